// Flags: ranges the recipe needs are enforced, user errors are one line with the --help hint (stack
// traces only for bugs or with CSG_DEBUG=1), and the commands say so before touching the GPU.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainOptions, OptionError, MAX_ITERS } from '../src/cli/options.js';
import { DIGITS_DEFAULTS } from '../src/train/options.js';
import { describeFailure } from '../src/cli/errors.js';

const ROOT = join(import.meta.dirname, '..');
const parse = (...argv: string[]) => parseTrainOptions(argv, DIGITS_DEFAULTS);

test.each([
  [['--iters', '1e99'], `--iters: '1e99' must be an integer ≥ 1 and ≤ ${MAX_ITERS}`],
  [['--iters', '2.5'], `--iters: '2.5' must be an integer ≥ 1 and ≤ ${MAX_ITERS}`],
  [['--iters', '10', '--iters-max', '5'], '--iters-max 5 is below --iters 10'],
  [['--batch', '-3'], "--batch: '-3' must be an integer ≥ 1"],
  [['--batch=0'], "--batch: '0' must be an integer ≥ 1"],
  [['--lr=-1'], "--lr: '-1' must be > 0"],
  [['--lr', '0'], "--lr: '0' must be > 0"],
  [['--csg=-1'], "--csg: '-1' must be ≥ 0"],
  [['--tau', '0'], "--tau: '0' must be > 0"],
  [['--m', '1.5'], "--m: '1.5' must be ≥ 0 and ≤ 1"],
  [['--dropout', '1'], "--dropout: '1' must be ≥ 0 and < 1"],
  [['--factor', '-0.1'], "--factor: '-0.1' must be ≥ 0"],
  [['--lr', 'fast'], "--lr: 'fast' is not a number"],
  [['--foo'], 'unknown flag --foo'],
  [['--batch'], '--batch: a value is needed'],
  [['--force=yes'], '--force: takes no value'],
  [['stray'], "unexpected argument 'stray'"],
])('%j is refused: %s', (argv, message) => {
  expect(() => parse(...argv)).toThrow(OptionError);
  expect(() => parse(...argv)).toThrow(message);
});

test('what the recipe allows passes: λ = 0 is the baseline, negative numbers reach their flag', () => {
  const o = parse('--csg', '0', '--lr', '1e-3', '--iters', String(MAX_ITERS), '--tau', '0.07', '--m', '1', '--force');
  expect([o.csg, o.lr, o.iters, o.tau, o.momentumEma, o.force]).toEqual([0, 1e-3, MAX_ITERS, 0.07, 1, true]);
});

test('a user error is one line and the --help hint; a bug or CSG_DEBUG=1 keeps the stack', () => {
  const user = describeFailure('train:seg', new OptionError('unknown flag --foo'), false);
  expect(user).toBe('train:seg: unknown flag --foo\n(npm run train:seg -- --help lists the flags; CSG_DEBUG=1 shows the stack)\n');
  const bug = new TypeError('x is undefined');
  expect(describeFailure('train:seg', bug, false)).toMatch(/^train:seg: TypeError: x is undefined\n\s+at /);
  expect(describeFailure('train:seg', new OptionError('bad'), true)).toMatch(/^train:seg: OptionError: bad\n\s+at /);
});

/** Runs a command as a user would (no GPU is opened before these errors). */
function command(script: string, ...argv: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...argv], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CSG_DEBUG: '' } });
  return { code: r.status, stderr: r.stderr.trim() };
}

test('the commands print the one line and exit 1', () => {
  expect(command('train-seg', '--batch', '-3')).toEqual({
    code: 1,
    stderr: "train:seg: --batch: '-3' must be an integer ≥ 1\n(npm run train:seg -- --help lists the flags; CSG_DEBUG=1 shows the stack)",
  });
  const dir = mkdtempSync(join(tmpdir(), 'csg-cli-'));
  const png = join(dir, 'weights.png');
  writeFileSync(png, Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
  const evalPng = command('eval-seg', '--ckpt', png);
  expect(evalPng.code).toBe(1);
  expect(evalPng.stderr).toMatch(new RegExp(`^eval:seg: ${png}: not a safetensors file: header length \\d+ exceeds the limit of 100000000 bytes\\n\\(npm run eval:seg -- --help`));
}, 60_000);
