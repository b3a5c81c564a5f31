// The platform seam (src/gpu/platform.ts): below the CLI, the engine layers reach the host only
// through it. Checked twice: in the sources (no `node:` import, no `process`) and in the web build's
// metafile (every bundled module, with platform-node.ts swapped for platform-browser.ts).
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { buildWeb, ROOT } from '../src/cli/web-build.js';

const ENGINE_DIRS = ['gpu', 'tensor', 'ops', 'autograd', 'nn', 'csg'];
const ENGINE_FILES = ['src/io/safetensors.ts', 'src/eval/segment.ts', 'src/data/render-digits.ts', 'src/data/augment.ts'];
/** The Node side of the seam: the only engine files that may touch the host directly. */
const NODE_HOST = ['src/gpu/platform-node.ts', 'src/gpu/dawn.ts'];

function engineSources(): string[] {
  const files = ENGINE_DIRS.flatMap((d) =>
    readdirSync(join(ROOT, 'src', d))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => `src/${d}/${f}`),
  );
  return [...files, ...ENGINE_FILES].filter((f) => !NODE_HOST.includes(f));
}

test('engine sources import no node: module and read no process state outside the seam', () => {
  const offences: string[] = [];
  for (const file of engineSources()) {
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const code = /^\s*(\*|\/\*|\/\/)/.test(line) ? '' : line.replace(/\/\/.*$/, '');
        if (/from ['"]node:|import\(['"]node:|\bprocess\.|\brequire\(/.test(code)) offences.push(`${file}:${i + 1}: ${line.trim()}`);
      });
  }
  expect(engineSources().length).toBeGreaterThan(40);
  expect(offences).toEqual([]);
});

test('the browser bundle holds the engine with no node: module, and platform-browser.ts in place of platform-node.ts', async () => {
  const out = mkdtempSync(join(tmpdir(), 'csg-web-seam-'));
  try {
    const meta = await buildWeb(out);
    const inputs = Object.keys(meta.inputs).map((p) => relative(ROOT, join(process.cwd(), p)));
    expect(inputs.filter((p) => p.startsWith('node:') || p.includes('node_modules/webgpu/'))).toEqual([]);
    expect(inputs).toContain('src/gpu/platform-browser.ts');
    expect(inputs).not.toContain('src/gpu/platform-node.ts');
    expect(inputs).not.toContain('src/gpu/dawn.ts');
    // The whole engine is there: the segmentation model, the CSG step, every op family.
    for (const f of ['src/nn/deeplab.ts', 'src/csg/model.ts', 'src/train/step.ts', 'src/ops/conv2d.ts', 'src/ops/matmul.ts', 'src/io/safetensors.ts']) expect(inputs).toContain(f);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 60_000);
