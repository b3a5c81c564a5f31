// The layering of src/ (.dependency-cruiser.cjs, docs/DESIGN.md) checked by dependency-cruiser: no layer
// imports one above it (nothing imports src/cli), no import cycles, src/csg launches no kernel. The
// rules are first shown to catch planted violations in a small throwaway tree, then run on src/.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = join(import.meta.dirname, '..');
const config = createRequire(import.meta.url)(join(ROOT, '.dependency-cruiser.cjs')) as { forbidden: IForbiddenRuleType[]; options: ICruiseOptions };

/** Violations of the project's rules in `dir`/src, as 'rule: from → to' lines. */
async function violations(dir: string): Promise<string[]> {
  const { output } = await cruise(
    ['src'],
    { ...config.options, baseDir: dir, ruleSet: { forbidden: config.forbidden }, validate: true },
    {},
    { tsConfig: extractTSConfig(join(ROOT, 'tsconfig.json')) },
  );
  return (output as ICruiseResult).summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

test('the rules catch planted violations', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'layering-'));
  const files: Record<string, string> = {
    'src/cli/command.ts': 'export const flag = 1;\n',
    'src/nn/uses-cli.ts': "import { flag } from '../cli/command.js';\nexport const x = flag;\n",
    'src/gpu/device.ts': 'export const device = 1;\n',
    'src/csg/launches.ts': "import { device } from '../gpu/device.js';\nexport const y = device;\n",
    'src/ops/a.ts': "import type { B } from './b.js';\nexport interface A { b: B }\n",
    'src/ops/b.ts': "import type { A } from './a.js';\nexport interface B { a: A }\n",
    'src/train/core.ts': 'export const core = 1;\n',
    'src/data/task.ts': "import { core } from '../train/core.js';\nexport const z = core;\n",
    'src/io/files.ts': "import { z } from '../data/task.js';\nexport const w = z;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const found = await violations(dir);
  for (const expected of [
    'no-import-of-cli: src/nn/uses-cli.ts → src/cli/command.ts',
    'nn-imports-only-below: src/nn/uses-cli.ts → src/cli/command.ts',
    'csg-launches-no-kernel: src/csg/launches.ts → src/gpu/device.ts',
    'no-cycles: src/ops/a.ts → src/ops/b.ts',
    'data-imports-only-below: src/data/task.ts → src/train/core.ts',
    'io-is-a-leaf: src/io/files.ts → src/data/task.ts',
  ]) {
    expect(found).toContain(expected);
  }
});

test('src/ keeps its layering', async () => {
  expect(await violations(ROOT)).toEqual([]);
});
