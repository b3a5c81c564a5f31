// train:cls end to end on a tiny classifier and tiny images: training lowers the loss and writes the run
// folder and summary; --resume continues with exactly the losses of an uninterrupted run (queues,
// momentum, views); the weight-L2 term is Σ‖θ − θ₀‖² over the backbone, checked against a checkpoint.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseClsOptions } from '../src/cli/cls-options.js';
import { trainCls, type ClsOptions } from '../src/train/train-cls.js';
import { toFloat32 } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { useGpu } from './helpers.js';
import { quiet, trainLines, type TrainLine } from './run-metrics.js';

useGpu();
// One conv variant throughout (see train-e2e.test.ts): the uninterrupted run must not switch variants.
beforeAll(() => {
  process.env.CSG_CONV_VARIANT = 'regblock';
});
afterAll(() => {
  delete process.env.CSG_CONV_VARIANT;
});

const TINY = ['--weights', 'none', '--layers', '1.1.1.1', '--width', '8', '--size', '32', '--counts', '64,20,20,20', '--batch', '4', '--K', '64', '--log-every', '1', '--eval-every', '0'];

function options(extra: string[], out: string): ClsOptions {
  return parseClsOptions([...TINY, ...extra, '--out', out]);
}

test('a short CSG run lowers the classification loss and writes its run folder and summary', async () => {
  const out = mkdtempSync(join(tmpdir(), 'cls-e2e-'));
  // 8 training images of 8 different digits seen 15 times each (class priors cannot lower the loss).
  // A random-init narrow ResNet passes little signal to its head (PyTorch's default init shrinks it
  // layer by layer, and eval-mode BN does not renormalise it), so the fall is slow: ~7 % in 30 steps.
  const outcome = await trainCls(options(['--counts', '8,20,20,20', '--iters', '30', '--warmup', '1', '--lr', '0.1', '--csg', '0.1', '--checkpoint-every', '0'], out), quiet);
  if (outcome.stopped) throw new Error('the run stopped early');
  const summary = outcome.summary;
  const lines = trainLines(out);
  expect(lines).toHaveLength(30);
  const mean = (xs: TrainLine[]) => xs.reduce((a, l) => a + l.ce, 0) / xs.length;
  expect(mean(lines.slice(-6))).toBeLessThan(0.96 * mean(lines.slice(0, 6)));
  expect(summary.acc_real).toBeGreaterThanOrEqual(0);
  expect(summary.acc_syn).not.toBeNull();
  expect(Object.keys(summary.acc_real_per_class)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  expect(summary.hse_real).toBeGreaterThan(0);
  expect(summary.chance).toBeCloseTo(0.1);
  const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['acc_real', 'acc_syn', 'acc_real_per_class', 'hse_real', 'wall_seconds']) expect(written).toHaveProperty(k);
  for (const f of ['config.json', 'predictions.png', 'curves.png', 'latest.json']) expect(() => readFileSync(join(out, f))).not.toThrow();
}, 600_000);

test('--resume continues exactly (queues, momentum, views)', async () => {
  const straight = mkdtempSync(join(tmpdir(), 'cls-straight-'));
  const split = mkdtempSync(join(tmpdir(), 'cls-split-'));
  const common = ['--iters-max', '6', '--csg', '0.1', '--lr', '0.02', '--checkpoint-every', '3'];
  await trainCls(options([...common, '--iters', '6'], straight), quiet);
  await trainCls(options([...common, '--iters', '3'], split), quiet);
  await trainCls(options([...common, '--iters', '6', '--resume', split], split), quiet);
  const a = trainLines(straight);
  const b = trainLines(split);
  expect(b.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) expect([b[i]!.ce, b[i]!.total]).toEqual([a[i]!.ce, a[i]!.total]);
}, 600_000);

test('weight L2: the term is 0 at the start and Σ‖θ − θ₀‖² over the backbone after steps', async () => {
  const out = mkdtempSync(join(tmpdir(), 'cls-wl2-'));
  await trainCls(options(['--iters', '4', '--lr', '0.5', '--warmup', '1', '--csg', '0', '--reg', 'weight-l2:0.1', '--checkpoint-every', '3'], out), quiet);
  const lines = trainLines(out);
  expect(lines[0]!.reg).toBe(0);
  // The term of step 4 is computed on the weights after 3 steps: the checkpoint's.
  const state = readSafetensors(join(out, 'ckpt-0000003', 'checkpoint.safetensors')).tensors;
  let expected = 0;
  for (const [name, e] of state) {
    if (!/^encoder_q\.(conv1|bn1|layer[1-4])\..*(weight|bias)$/.test(name)) continue;
    const q = toFloat32(e);
    const k = toFloat32(state.get(name.replace('encoder_q.', 'encoder_k.'))!);
    for (let i = 0; i < q.length; i++) expected += (q[i]! - k[i]!) ** 2;
  }
  expect(expected).toBeGreaterThan(0);
  expect(Math.abs(lines[3]!.reg! - expected) / expected).toBeLessThan(1e-3);
}, 600_000);
