// Ctrl-C (SIGINT) and SIGTERM (what schedulers and `kill` send) during train:seg save a checkpoint of
// the steps done, say where, and exit with 128 + the signal number; the run resumes from it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const TINY = ['--weights', 'none', '--layers', '1.1.1.1', '--width', '8', '--head-width', '16', '--size', '32', '--counts', '64,8,8,8', '--batch', '2', '--K', '64', '--chunks', '2', '--log-every', '1', '--eval-every', '0', '--checkpoint-every', '0'];

test.each([
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)('%s saves a checkpoint and exits with %i', async (signal, exitCode) => {
  const out = mkdtempSync(join(tmpdir(), `csg-${signal.toLowerCase()}-`));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train-seg.ts', ...TINY, '--iters', '1000', '--out', out], {
    cwd: ROOT,
    env: { ...process.env, CSG_WEBGPU_QUIET: '1', CSG_CONV_VARIANT: 'regblock' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const metrics = join(out, 'metrics.jsonl');
  const started = Date.now();
  // Interrupt once two steps are logged.
  while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').filter(Boolean).length >= 2)) {
    if (Date.now() - started > 240_000 || child.exitCode !== null) throw new Error(`no training steps logged:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill(signal);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  expect(code).toBe(exitCode);
  expect(stderr).toMatch(/saved .*ckpt-\d+; resume with --resume/);
  const { step } = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { step: number };
  expect(step).toBeGreaterThanOrEqual(2);
  expect(existsSync(join(out, `ckpt-${String(step).padStart(7, '0')}`, 'checkpoint.safetensors'))).toBe(true);
  expect(existsSync(join(out, 'run.lock'))).toBe(false); // released on the way out
}, 300_000);
