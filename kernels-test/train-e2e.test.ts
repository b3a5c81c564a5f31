// End to end on a tiny model and tiny images: training lowers the loss, a checkpoint round-trips
// bit-exactly, and --resume continues with exactly the losses of an uninterrupted run.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainOptions } from '../src/cli/options.js';
import { DIGITS_DEFAULTS, type TrainOptions } from '../src/train/options.js';
import { trainSeg } from '../src/train/train-seg.js';
import { moduleStateEntries, hostTensors } from '../src/train/checkpoint.js';
import { CsgDeepLab } from '../src/csg/model.js';
import { readSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { useGpu } from './helpers.js';

useGpu();
// One conv variant throughout (autotuning has its own tests in conv2d.test.ts): it keeps this file fast, and
// the uninterrupted run of the resume test must not switch variants after its first step.
beforeAll(() => {
  process.env.CSG_CONV_VARIANT = 'regblock';
});
afterAll(() => {
  delete process.env.CSG_CONV_VARIANT;
});

const TINY = ['--weights', 'none', '--layers', '1.1.1.1', '--width', '8', '--head-width', '16', '--size', '32', '--counts', '64,8,8,8', '--batch', '2', '--K', '64', '--chunks', '2', '--log-every', '1', '--eval-every', '0'];

function options(extra: string[], out: string): TrainOptions {
  return parseTrainOptions([...TINY, ...extra, '--out', out], DIGITS_DEFAULTS);
}

interface TrainLine {
  kind: string;
  step: number;
  ce: number;
  total: number;
}

function trainLines(dir: string): TrainLine[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TrainLine)
    .filter((l) => l.kind === 'train');
}

const quiet = { log: () => undefined };

test('a short CSG run lowers the segmentation loss and writes its run folder', async () => {
  const out = mkdtempSync(join(tmpdir(), 'csg-e2e-'));
  const outcome = await trainSeg(options(['--iters', '40', '--lr', '0.05', '--csg', '0.1', '--checkpoint-every', '0'], out), quiet);
  if (outcome.stopped) throw new Error('the run stopped early');
  const { summary } = outcome;
  const lines = trainLines(out);
  expect(lines).toHaveLength(40);
  const mean = (xs: TrainLine[]) => xs.reduce((a, l) => a + l.ce, 0) / xs.length;
  expect(mean(lines.slice(-8))).toBeLessThan(0.8 * mean(lines.slice(0, 8)));
  expect(summary.miou_real).toBeGreaterThan(0);
  expect(summary.hse_real_stage4).toBeGreaterThan(0);
  for (const f of ['config.json', 'summary.json', 'predictions.png', 'curves.png', 'latest.json']) expect(() => readFileSync(join(out, f))).not.toThrow();
}, 600_000);

test('a checkpoint round-trips bit-exactly and --resume continues exactly', async () => {
  const straight = mkdtempSync(join(tmpdir(), 'csg-straight-'));
  const split = mkdtempSync(join(tmpdir(), 'csg-split-'));
  const common = ['--iters-max', '6', '--csg', '0.1', '--lr', '0.02', '--checkpoint-every', '3'];
  await trainSeg(options([...common, '--iters', '6'], straight), quiet);
  await trainSeg(options([...common, '--iters', '3'], split), quiet);
  // Round trip: load the step-3 checkpoint into a fresh model; its state reads back byte for byte.
  const file = join(split, 'ckpt-0000003', 'checkpoint.safetensors');
  const saved = readSafetensors(file).tensors;
  const o = options(common, split);
  const fresh = new CsgDeepLab({ layers: o.layers, width: o.width, headWidth: o.headWidth, classes: 2, queueSize: o.K, seed: 123 });
  fresh.loadStateDict(hostTensors(saved));
  expect(Buffer.from(serializeSafetensors(await moduleStateEntries(fresh))).equals(Buffer.from(serializeSafetensors(saved)))).toBe(true);
  fresh.dispose();
  await trainSeg(options([...common, '--iters', '6', '--resume', split], split), quiet);
  const a = trainLines(straight);
  const b = trainLines(split);
  expect(b.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) {
    expect(b[i]!.total).toBe(a[i]!.total);
    expect(b[i]!.ce).toBe(a[i]!.ce);
  }
}, 600_000);

test('a NaN loss stops the run, naming the step and the loss, and keeps the last good checkpoint', async () => {
  const out = mkdtempSync(join(tmpdir(), 'csg-nan-'));
  const run = trainSeg(options(['--iters', '6', '--lr', '1e30', '--csg', '0.1', '--checkpoint-every', '1'], out), quiet);
  await expect(run).rejects.toThrow(/step \d+: .*loss is (NaN|-?Infinity); training stopped\. The last good checkpoint is .*ckpt-\d+/);
  const latest = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { checkpoint: string };
  expect(() => readFileSync(join(out, latest.checkpoint, 'checkpoint.safetensors'))).not.toThrow();
}, 300_000);
