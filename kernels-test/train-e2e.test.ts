// End to end on a tiny model and tiny images: training lowers the loss, a checkpoint round-trips
// bit-exactly, --resume continues with exactly the losses of an uninterrupted run (and no metrics line
// twice), the run folder refuses what would lose a checkpoint, and a diverging run names a finite one.
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrainOptions } from '../src/cli/options.js';
import { DIGITS_DEFAULTS, type TrainOptions } from '../src/train/options.js';
import { trainSeg } from '../src/train/train-seg.js';
import { moduleStateEntries, hostTensors } from '../src/train/checkpoint.js';
import { CsgDeepLab } from '../src/csg/model.js';
import { serializeSafetensors, toFloat32 } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { useGpu } from './helpers.js';
import { metricsRecords, quiet, trainLines, type TrainLine } from './run-metrics.js';

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

test('a short CSG run lowers the segmentation loss and writes its run folder', async () => {
  const out = mkdtempSync(join(tmpdir(), 'csg-e2e-'));
  const outcome = await trainSeg(options(['--iters', '40', '--lr', '0.05', '--csg', '0.1', '--checkpoint-every', '0', '--eval-every', '10'], out), quiet);
  if (outcome.stopped) throw new Error('the run stopped early');
  const { summary } = outcome;
  const lines = trainLines(out);
  expect(lines).toHaveLength(40);
  const mean = (xs: TrainLine[]) => xs.reduce((a, l) => a + l.ce, 0) / xs.length;
  expect(mean(lines.slice(-8))).toBeLessThan(0.8 * mean(lines.slice(0, 8)));
  expect(summary.miou_real).toBeGreaterThan(0);
  expect(summary.hse_real_stage4).toBeGreaterThan(0);
  // The best constant prediction of each split, scored beside the model.
  expect(summary.pixel_accuracy_real_trivial).toBeGreaterThan(0.5);
  expect(summary.miou_real_trivial).toBeCloseTo(summary.pixel_accuracy_real_trivial / 2, 12);
  expect(summary.miou_syn_trivial).toBeCloseTo(summary.pixel_accuracy_syn_trivial! / 2, 12);
  for (const f of ['config.json', 'summary.json', 'predictions.png', 'curves.png', 'latest.json']) expect(() => readFileSync(join(out, f))).not.toThrow();
  // Best-of: the highest real-val evaluation and its step; final: the last model re-evaluated on the same
  // split, which equals the evaluation the core made at step 40 (evaluation is deterministic).
  const evals = metricsRecords<{ kind: string; step: number; miou: number; split: string }>(out).filter((l) => l.kind === 'eval');
  expect(evals.map((e) => e.step)).toEqual([10, 20, 30, 40]);
  const best = evals.reduce((a, e) => (e.miou > a.miou ? e : a));
  const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  expect(written.miou_best).toEqual({ split: 'real val', value: best.miou, step: best.step });
  expect(written.miou_final).toEqual({ split: 'real val', value: evals[3]!.miou, step: 40 });
}, 600_000);

test('a checkpoint round-trips bit-exactly, --resume continues exactly, and the run folder is guarded', async () => {
  const straight = mkdtempSync(join(tmpdir(), 'csg-straight-'));
  const common = ['--csg', '0.1', '--lr', '0.02', '--checkpoint-every', '3'];
  // --iters is a multiple of --checkpoint-every: the final step is saved once (a second save of the
  // live checkpoint would throw).
  await trainSeg(options([...common, '--iters', '6'], straight), quiet);
  expect(readdirSync(straight).filter((f) => f.startsWith('ckpt-'))).toEqual(['ckpt-0000003', 'ckpt-0000006']);
  // Round trip: load the step-3 checkpoint into a fresh model; its state reads back byte for byte.
  const file = join(straight, 'ckpt-0000003', 'checkpoint.safetensors');
  const saved = readSafetensors(file).tensors;
  const o = options(common, straight);
  const fresh = new CsgDeepLab({ layers: o.layers, width: o.width, headWidth: o.headWidth, classes: 2, queueSize: o.K, seed: 123 });
  fresh.loadStateDict(hostTensors(saved));
  expect(Buffer.from(serializeSafetensors(await moduleStateEntries(fresh))).equals(Buffer.from(serializeSafetensors(saved)))).toBe(true);
  fresh.dispose();

  // The run folder refuses, before any work: a new run into it, a resume with other flags, a resume
  // over newer checkpoints; a failed resume leaves no --out behind.
  await expect(trainSeg(options([...common, '--iters', '2'], straight), quiet)).rejects.toThrow(/already holds a run \(checkpoints up to step 6\): use --resume/);
  const resumeFrom3 = ['--iters', '6', '--resume', join(straight, 'ckpt-0000003')];
  await expect(trainSeg(options([...common, ...resumeFrom3, '--batch', '3'], straight), quiet)).rejects.toThrow(/flags differ from the saved run: --batch 3 \(saved 2\); give the saved values, or add --force/);
  await expect(trainSeg(options([...common, ...resumeFrom3], straight), quiet)).rejects.toThrow(/newer than the resumed step 3 \(ckpt-0000006\)/);
  const nowhere = join(mkdtempSync(join(tmpdir(), 'csg-noout-')), 'out');
  await expect(trainSeg(options([...common, '--resume', join(straight, 'missing')], nowhere), quiet)).rejects.toThrow(/missing does not exist/);
  expect(existsSync(nowhere)).toBe(false);
  expect(readdirSync(straight).sort()).toEqual(['ckpt-0000003', 'ckpt-0000006', 'config.json', 'curves.png', 'latest.json', 'metrics.jsonl', 'predictions.png', 'summary.json']);

  // Resume at step 3 over the copy of the run: the later metrics lines go, steps 4–6 repeat exactly.
  const split = mkdtempSync(join(tmpdir(), 'csg-split-'));
  cpSync(straight, split, { recursive: true });
  await trainSeg(options([...common, '--iters', '6', '--resume', join(split, 'ckpt-0000003'), '--force'], split), quiet);
  const a = trainLines(straight);
  const b = trainLines(split);
  expect(b.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
  for (let i = 0; i < 6; i++) {
    expect(b[i]!.total).toBe(a[i]!.total);
    expect(b[i]!.ce).toBe(a[i]!.ce);
  }
}, 600_000);

test('a diverging run stops at the step the progress line shows, naming the newest finite checkpoint', async () => {
  const out = mkdtempSync(join(tmpdir(), 'csg-nan-'));
  const progress: number[] = [];
  const run = trainSeg(options(['--iters', '6', '--lr', '1e4', '--csg', '0.1', '--checkpoint-every', '1'], out), { ...quiet, onStep: (e) => progress.push(e.step) });
  const error = (await run.then(() => null, (e: unknown) => e)) as Error;
  // Either the loss or the weights go non-finite first; both stop the run at that (1-based) step.
  const stop = /^step (\d+): (.*loss is (NaN|-?Infinity)|\d+ of \d+ state tensors hold Inf or NaN .*; no checkpoint written); training stopped\. The newest finite checkpoint is (.*ckpt-(\d+)) \(step (\d+); resume with --resume (.*)\)\.$/.exec(error.message);
  expect(stop).not.toBeNull();
  const [, stopStep, , , named, nameStep, step] = stop!;
  // The progress line counts steps done as the stop does: a loss stop comes before step N's line, a
  // state stop (found when saving) after it.
  expect(progress.at(-1)).toBe(Number(stopStep) - (/state tensors/.test(error.message) ? 0 : 1));
  expect(Number(nameStep)).toBe(Number(step));
  expect(Number(step)).toBe(Number(stopStep) - 1);
  const latest = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as { checkpoint: string; step: number };
  expect(join(out, latest.checkpoint)).toBe(named);
  for (const f of ['checkpoint', 'optimizer']) {
    for (const [name, e] of readSafetensors(join(named!, `${f}.safetensors`)).tensors) {
      if (e.dtype === 'F32' && !toFloat32(e).every(Number.isFinite)) throw new Error(`${f} ${name} is not finite`);
    }
  }
}, 300_000);
