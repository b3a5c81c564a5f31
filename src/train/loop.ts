// The training loop shared by train:seg and train:cls: the progress bar, metrics.jsonl lines, the
// evaluation cadence, checkpoints (periodic, on Ctrl-C, at the end), the pause for kernel tuning, and
// what a NaN loss or a GPU failure says (the step and the last good checkpoint). A task supplies how
// to run step `it`, how to evaluate, and how to save.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { gpu, GpuError, tunePending, pendingTuning } from '../gpu/index.js';
import { setDropoutSeedState } from '../nn/index.js';
import type { CsgModel } from '../csg/model.js';
import { writeFileAtomic } from '../io/atomic.js';
import { ensureImagenetWeights } from '../io/imagenet-weights.js';
import { readSafetensors } from '../io/safetensors.js';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { linePlot, type Series } from '../data/picture.js';
import { NonFiniteLossError, type CsgTrainStep, type StepResult, type Stage } from './step.js';
import { resolveCheckpoint, loadModelState, loadOptimizerState, readTrainerState, hostTensors } from './checkpoint.js';

export interface RunHooks {
  /** Lines for the person watching (default: stderr). */
  log?: (line: string) => void;
  /** Show a progress bar (default: when stderr is a terminal or CSG_PROGRESS=1). */
  progress?: boolean;
}

export interface LoopSpec {
  out: string;
  /** Steps of the whole run; the loop runs [start, iters). */
  iters: number;
  start: number;
  stages: Stage[];
  logEvery: number;
  /** Every this many steps, `evaluate` (0: never). */
  evalEvery: number;
  checkpointEvery: number;
  runStep(it: number): Promise<StepResult>;
  /** A metrics.jsonl line (kind 'eval') after `stepsDone` steps. */
  evaluate?(stepsDone: number): Promise<Record<string, unknown>>;
  /** Writes a checkpoint after `stepsDone` steps; returns its folder. */
  save(stepsDone: number): Promise<string>;
}

/**
 * Loads the starting backbone into the student (`weights`: 'imagenet' = the npm ResNet-50 of
 * `npm run weights:imagenet`, Caffe-style BGR input and its stride on the first 1×1; a safetensors
 * file in torchvision names; 'none'), makes the teacher its copy, and returns the input normalisation
 * those weights expect.
 */
export async function loadStartWeights(model: CsgModel, o: { weights: string; layers: number[] }, log: (s: string) => void): Promise<Normalization> {
  const imagenet = o.weights === 'imagenet';
  if (o.weights !== 'none') {
    const path = imagenet ? await ensureImagenetWeights({ log }) : o.weights;
    if (!existsSync(path)) throw new Error(`--weights: ${path} does not exist`);
    const { ignored } = model.encoder_q.loadBackbone(hostTensors(readSafetensors(path).tensors));
    log(`loaded backbone weights from ${path} (${ignored.length} entries not used by layers ${o.layers.join('.')})`);
  }
  model.syncTeacher();
  return imagenet ? CAFFE_NORM : IMAGENET_NORM;
}

/**
 * Prepares the run folder and the run's state: config.json, a fresh metrics.jsonl (kept on --resume),
 * the dropout seeds, and with `resume` the model, queue pointers, momentum and seeds of its checkpoint.
 * Returns the step to start at.
 */
export function startRun(
  o: { out: string; seed: number; resume: string | null },
  model: CsgModel,
  step: CsgTrainStep,
  log: (s: string) => void,
): number {
  mkdirSync(o.out, { recursive: true });
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  let start = 0;
  if (o.resume) {
    const dir = resolveCheckpoint(o.resume);
    loadModelState(dir, model);
    step.syncQueuePointers();
    loadOptimizerState(dir, step.sgd, step.trainable);
    const state = readTrainerState(dir);
    setDropoutSeedState(state.dropout);
    start = state.step;
    log(`resumed from ${dir} at step ${start}`);
  }
  writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(o, null, 2));
  if (!o.resume) writeFileSync(join(o.out, 'metrics.jsonl'), '');
  return start;
}

export function formatStep(r: StepResult, stages: Stage[]): string {
  const nce = stages.map((s) => (r.nce[s] !== undefined ? ` nce${s} ${r.nce[s]!.toFixed(3)} top1 ${(100 * r.top1[s]!).toFixed(0)}%` : '')).join('');
  return `ce ${r.ce.toFixed(4)}${r.reg !== undefined ? ` reg ${r.reg.toFixed(4)}` : ''}${nce}`;
}

/** Runs the steps, then saves the final checkpoint; returns the last step's result. Ctrl-C saves and exits 130. */
export async function trainingLoop(spec: LoopSpec, hooks: RunHooks = {}): Promise<{ last: StepResult | null; checkpoint: string }> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const metricsPath = join(spec.out, 'metrics.jsonl');
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log('\ninterrupted: finishing this step, then saving a checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  const showBar = hooks.progress ?? (process.stderr.isTTY || process.env.CSG_PROGRESS === '1');
  const bar = showBar
    ? new cliProgress.SingleBar(
        { format: 'train {bar} {value}/{total} | {losses} | {rate} it/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(spec.iters, spec.start, { losses: '', rate: '–' });
  let last: StepResult | null = null;
  let lastCheckpoint: string | null = null;
  // it/s counts from the last pause (tuning), so the rate and ETA describe training alone.
  let rateFrom = { it: spec.start, t: performance.now() };
  try {
    for (let it = spec.start; it < spec.iters; it++) {
      last = await spec.runStep(it);
      if (it === spec.start && pendingTuning().length) {
        // Kernel variants are chosen per adapter by timing each once; the choice is cached for later runs.
        bar?.stop();
        log(`autotune: timing kernel variants for ${pendingTuning().length} new shapes on this adapter (once; cached in .cache/autotune)`);
        await tunePending();
        rateFrom = { it: it + 1, t: performance.now() };
        bar?.start(spec.iters, it + 1, { losses: formatStep(last, spec.stages), rate: '–' });
      }
      const done = it + 1 - rateFrom.it;
      const rate = done > 0 ? done / ((performance.now() - rateFrom.t) / 1000) : 0;
      bar?.update(it + 1, { losses: formatStep(last, spec.stages), rate: rate.toFixed(2) });
      if ((it + 1) % spec.logEvery === 0 || it + 1 === spec.iters) {
        const { ce, nce, top1, top5, reg, total, lrs } = last;
        appendFileSync(metricsPath, JSON.stringify({ kind: 'train', step: it + 1, ce, nce, top1, top5, reg, total, lr: lrs, it_per_s: rate }) + '\n');
        if (!bar) log(`step ${it + 1}/${spec.iters} ${formatStep(last, spec.stages)} ${rate.toFixed(2)} it/s`);
      }
      if (spec.evaluate && spec.evalEvery > 0 && (it + 1) % spec.evalEvery === 0) {
        appendFileSync(metricsPath, JSON.stringify({ kind: 'eval', step: it + 1, ...(await spec.evaluate(it + 1)) }) + '\n');
      }
      if (interrupted || (spec.checkpointEvery > 0 && (it + 1) % spec.checkpointEvery === 0)) lastCheckpoint = await spec.save(it + 1);
      if (interrupted) {
        bar?.stop();
        log(`saved ${lastCheckpoint}; resume with --resume ${spec.out}`);
        process.exit(130);
      }
    }
  } catch (e) {
    bar?.stop();
    const kept = lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint} (resume with --resume ${spec.out}).` : 'No checkpoint was written before it.';
    if (e instanceof NonFiniteLossError) throw new NonFiniteLossError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof GpuError) throw new GpuError(`${e.message}\ntraining stopped: the GPU failed${gpu().lost ? ' (device lost)' : ''}. ${kept}`);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  bar?.stop();
  const checkpoint = await spec.save(spec.iters);
  log(`checkpoint: ${checkpoint}`);
  return { last, checkpoint };
}

/** curves.png: the training losses, and the metric `key` of the evaluation lines under `title`. */
export function drawCurves(out: string, evalMetric: { key: string; title: string }): void {
  const metricsPath = join(out, 'metrics.jsonl');
  const lines = (existsSync(metricsPath) ? readLines(metricsPath) : []) as Record<string, unknown>[];
  const train = lines.filter((l) => l.kind === 'train') as { step: number; ce: number; reg?: number; nce: Record<string, number> }[];
  const evals = lines.filter((l) => l.kind === 'eval') as { step: number; [k: string]: number }[];
  const loss: Series[] = [{ name: 'CE', points: train.map((l) => [l.step, l.ce]) }];
  if (train.some((l) => l.reg !== undefined)) loss.push({ name: 'regularizer', points: train.map((l) => [l.step, l.reg ?? NaN]) });
  for (const s of ['3', '4']) {
    if (train.some((l) => l.nce?.[s] !== undefined)) loss.push({ name: `NCE stage ${s}`, points: train.map((l) => [l.step, l.nce[s] ?? NaN]) });
  }
  const panels = [{ title: 'training losses', series: loss }];
  if (evals.length) panels.push({ title: evalMetric.title, series: [{ name: evalMetric.key, points: evals.map((e) => [e.step, 100 * e[evalMetric.key]!]) }] });
  linePlot(panels).save(join(out, 'curves.png'));
}

function readLines(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
