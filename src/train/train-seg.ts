// A whole segmentation run: data, the CSG model from ImageNet weights, the training loop with its
// progress bar, metrics, checkpoints (atomic; --resume continues exactly), evaluation on the real
// domain, the hyperspherical energy, pictures and summary.json.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { Tensor, TensorError } from '../tensor/index.js';
import { gpu, GpuError, tunePending, pendingTuning } from '../gpu/index.js';
import { setDropoutSeedState, dropoutSeedState } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { hypersphericalEnergy } from '../csg/index.js';
import { ensureImagenetWeights } from '../io/imagenet-weights.js';
import { readSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { trainBatch } from '../data/sampler.js';
import { openTaskData, recipeAugment, type TaskData } from '../data/task.js';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { segmentationStrip, linePlot, type Series } from '../data/picture.js';
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import { formatIouTable } from '../eval/confusion.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, NonFiniteLossError, type StepResult, type Stage } from './step.js';
import { saveCheckpoint, resolveCheckpoint, loadModelState, loadOptimizerState, readTrainerState, hostTensors, NonFiniteStateError, CheckpointError, type TrainerState } from './checkpoint.js';
import { openRunFolder, prepareResume, resumeDifferences, diskError, RunFolderError } from './run-folder.js';

export interface RunSummary {
  miou_real: number;
  miou_syn: number | null;
  iou_real: Record<string, number | null>;
  pixel_accuracy_real: number;
  hse_real_stage4: number | null;
  evaluations: Record<string, { miou: number; pixel_accuracy: number; iou: (number | null)[] }>;
  steps: number;
  wall_seconds: number;
  last: StepResult | null;
}

export interface RunHooks {
  /** Lines for the person watching (default: stderr). */
  log?: (line: string) => void;
  /** Show a progress bar (default: when stderr is a terminal or CSG_PROGRESS=1). */
  progress?: boolean;
}

/** Builds the model and loads its starting weights; returns the input normalisation they expect. */
export async function buildModel(o: TrainOptions, classes: number, log: (s: string) => void): Promise<{ model: CsgDeepLab; norm: Normalization }> {
  const imagenet = o.weights === 'imagenet';
  const model = new CsgDeepLab({
    layers: o.layers,
    width: o.width,
    headWidth: o.headWidth,
    classes,
    headDropout: o.dropout,
    strideIn1x1: imagenet, // Keras/Caffe ResNet-50: stride on the first 1×1
    seed: o.seed,
    queueSize: o.K,
  });
  if (o.weights !== 'none') {
    const path = imagenet ? await ensureImagenetWeights({ log }) : o.weights;
    if (!existsSync(path)) throw new CheckpointError(`--weights: ${path} does not exist`);
    let ignored: string[];
    try {
      ({ ignored } = model.encoder_q.loadBackbone(hostTensors(readSafetensors(path).tensors)));
    } catch (e) {
      throw e instanceof TensorError ? new CheckpointError(`--weights ${path}: ${e.message}`) : e;
    }
    const backbone = new Set(model.encoder_q.backboneModules().map(([name]) => name));
    const notLoaded = model.encoder_q.children().filter(([name]) => !backbone.has(name)).map(([name]) => name);
    log(`loaded the backbone (${[...backbone].join(', ')}) from ${path}; ${notLoaded.join(', ')} start from their random init; ${ignored.length} entries of the file not used by layers ${o.layers.join('.')}`);
  }
  model.syncTeacher();
  return { model, norm: imagenet ? CAFFE_NORM : IMAGENET_NORM };
}

function formatStep(r: StepResult, stages: Stage[]): string {
  const nce = stages.map((s) => (r.nce[s] !== undefined ? ` nce${s} ${r.nce[s]!.toFixed(3)} top1 ${(100 * r.top1[s]!).toFixed(0)}%` : '')).join('');
  return `ce ${r.ce.toFixed(4)}${nce}`;
}

/** The checkpoint to resume from and its trainer state; flags that change what is trained need --force. */
function resumePoint(o: TrainOptions, log: (s: string) => void): { dir: string; state: TrainerState } {
  const dir = resolveCheckpoint(o.resume!);
  const state = readTrainerState(dir);
  const { refused, noted } = resumeDifferences((state.options ?? {}) as Record<string, unknown>, o as unknown as Record<string, unknown>);
  if (refused.length && !o.force) {
    throw new CheckpointError(`--resume ${o.resume}: flags differ from the saved run: ${refused.join(', ')}; give the saved values, or add --force to continue with the new ones`);
  }
  if (refused.length) log(`--force: resuming with flags that differ from the saved run: ${refused.join(', ')}`);
  if (noted.length) log(`note: ${noted.join(', ')}: the learning-rate schedule changes from step ${state.step} on`);
  return { dir, state };
}

export async function trainSeg(o: TrainOptions, hooks: RunHooks = {}): Promise<RunSummary> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const resume = o.resume ? resumePoint(o, log) : null;
  const folder = openRunFolder(o.out, { resume: Boolean(resume), force: o.force, log });
  try {
    if (resume) prepareResume(o.out, resume.dir, resume.state.step, o.force, log);
    const summary = await trainInFolder(o, resume, log, hooks);
    folder.release();
    return summary;
  } catch (e) {
    folder.release(true);
    throw e;
  }
}

async function trainInFolder(o: TrainOptions, resume: { dir: string; state: TrainerState } | null, log: (s: string) => void, hooks: RunHooks): Promise<RunSummary> {
  const started = performance.now();
  const data = openTaskData(o);
  const classes = o.train === 'digits' ? data.classNames.length : o.classes;
  const { model, norm } = await buildModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  let start = 0;
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  // The newest finite checkpoint of the run and its step (every checkpoint written is finite).
  let lastCheckpoint: string | null = null;
  let savedStep = -1;
  if (resume) {
    await loadModelState(resume.dir, model);
    loadOptimizerState(resume.dir, step.sgd, step.trainable);
    setDropoutSeedState(resume.state.dropout);
    start = savedStep = resume.state.step;
    lastCheckpoint = resume.dir;
    log(`resumed from ${resume.dir} at step ${start}`);
  }
  const metricsPath = join(o.out, 'metrics.jsonl');
  try {
    writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(o, null, 2));
    if (!resume) writeFileSync(metricsPath, '');
  } catch (e) {
    throw diskError(e, o.out, 0, 'config.json');
  }
  const aug = recipeAugment(data.crop);
  const saveAt = async (stepsDone: number) => {
    if (stepsDone === savedStep) return; // the final step is saved once
    lastCheckpoint = await saveCheckpoint(o.out, model, step.sgd, step.trainable, { step: stepsDone, dropout: dropoutSeedState(), options: o });
    savedStep = stepsDone;
  };

  // Ctrl-C and SIGTERM (schedulers, kill) finish the step and save a checkpoint; a second one quits now.
  let interrupted: NodeJS.Signals | null = null;
  const exitCode = (signal: NodeJS.Signals) => (signal === 'SIGTERM' ? 143 : 130);
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(exitCode(signal));
    interrupted = signal;
    log(`\n${signal === 'SIGINT' ? 'interrupted' : signal}: finishing this step, then saving a checkpoint (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit now)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const showBar = hooks.progress ?? (process.stderr.isTTY || process.env.CSG_PROGRESS === '1');
  const bar = showBar
    ? new cliProgress.SingleBar(
        { format: 'train {bar} {value}/{total} | {losses} | {rate} it/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(o.iters, start, { losses: '', rate: '–' });
  let last: StepResult | null = null;
  // it/s counts from the last pause (tuning), so the rate and ETA describe training alone.
  let rateFrom = { it: start, t: performance.now() };
  try {
    for (let it = start; it < o.iters; it++) {
      const b = trainBatch(data.train, o.batch, o.seed, it, aug, norm, o.csg > 0);
      last = await step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels });
      if (it === start && pendingTuning().length) {
        // Kernel variants are chosen per adapter by timing each once; the choice is cached for later runs.
        bar?.stop();
        log(`autotune: timing kernel variants for ${pendingTuning().length} new shapes on this adapter (once; cached in .cache/autotune)`);
        await tunePending();
        rateFrom = { it: it + 1, t: performance.now() };
        bar?.start(o.iters, it + 1, { losses: formatStep(last, stages), rate: '–' });
      }
      const done = it + 1 - rateFrom.it;
      const rate = done > 0 ? done / ((performance.now() - rateFrom.t) / 1000) : 0;
      bar?.update(it + 1, { losses: formatStep(last, stages), rate: rate.toFixed(2) });
      if ((it + 1) % o.logEvery === 0 || it + 1 === o.iters) {
        appendFileSync(metricsPath, JSON.stringify({ kind: 'train', step: it + 1, ce: last.ce, nce: last.nce, top1: last.top1, top5: last.top5, total: last.total, lr: last.lrs, it_per_s: rate }) + '\n');
        if (!bar) log(`step ${it + 1}/${o.iters} ${formatStep(last, stages)} ${rate.toFixed(2)} it/s`);
      }
      if (o.evalEvery > 0 && (it + 1) % o.evalEvery === 0 && data.select) {
        const r = await evaluate(model.encoder_q, data.select.source, { classes, norm, batch: 16 });
        appendFileSync(metricsPath, JSON.stringify({ kind: 'eval', split: data.select.name, step: it + 1, miou: r.confusion.miou() }) + '\n');
      }
      if (interrupted || (o.checkpointEvery > 0 && (it + 1) % o.checkpointEvery === 0)) await saveAt(it + 1);
      if (interrupted) {
        bar?.stop();
        log(`saved ${lastCheckpoint}; resume with --resume ${o.out}`);
        process.exit(exitCode(interrupted));
      }
    }
  } catch (e) {
    bar?.stop();
    const kept = lastCheckpoint
      ? `The newest finite checkpoint is ${lastCheckpoint} (step ${savedStep}; resume with --resume ${lastCheckpoint}).`
      : 'No checkpoint was written before it.';
    if (e instanceof NonFiniteLossError) throw new NonFiniteLossError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof NonFiniteStateError) throw new NonFiniteStateError(e.step, e.bad, e.total, `training stopped. ${kept}`);
    if (e instanceof RunFolderError) throw new RunFolderError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof GpuError) throw new GpuError(`${e.message}\ntraining stopped: the GPU failed${gpu().lost ? ' (device lost)' : ''}. ${kept}`);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  bar?.stop();
  await saveAt(o.iters);
  log(`checkpoint: ${lastCheckpoint}`);
  const summary = await finalEvaluation(o, data, model, norm, classes, log);
  summary.steps = o.iters;
  summary.last = last;
  summary.wall_seconds = (performance.now() - started) / 1000;
  writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
  drawCurves(o.out, metricsPath);
  step.dispose();
  model.dispose();
  return summary;
}

async function finalEvaluation(o: TrainOptions, data: TaskData, model: CsgDeepLab, norm: Normalization, classes: number, log: (s: string) => void): Promise<RunSummary> {
  const results = new Map<string, EvalResult>();
  for (const split of data.evals) {
    const r = await evaluate(model.encoder_q, split.source, { classes, norm, batch: 16, features: split.hse, samples: 6 });
    results.set(split.name, r);
  }
  const headline = data.evals[0]!;
  const real = results.get(headline.name)!;
  let hse: number | null = null;
  if (real.features && real.featureDim > 0) {
    const n = Math.min(real.features.length / real.featureDim, 10000);
    const feats = Tensor.from(real.features.subarray(0, n * real.featureDim), [n, real.featureDim]);
    const e = hypersphericalEnergy(feats, { s: 1 });
    hse = await e.item();
    e.dispose();
    feats.dispose();
  }
  const syn = data.evals.find((e) => e.name.startsWith('synthetic'));
  const iou = real.confusion.iou();
  log(`\n${headline.name} (${headline.source.count} images):\n${formatIouTable(data.classNames, iou, real.confusion.miou(), real.confusion.pixelAccuracy())}`);
  if (syn) log(`${syn.name} mIoU ${(100 * results.get(syn.name)!.confusion.miou()).toFixed(2)}`);
  if (hse !== null) log(`hyperspherical energy (s = 1, mean over pairs) of ${headline.name} stage-4 features: ${hse.toFixed(4)}`);
  const strip = segmentationStrip(
    real.samples.map((s) => ({ width: s.width, height: s.height, image: s.image, prediction: s.prediction, truth: s.label })),
    data.palette,
    Math.max(1, Math.round(128 / real.samples[0]!.width)),
  );
  strip.save(join(o.out, 'predictions.png'));
  const evaluations: RunSummary['evaluations'] = {};
  for (const [name, r] of results) {
    evaluations[name] = { miou: r.confusion.miou(), pixel_accuracy: r.confusion.pixelAccuracy(), iou: r.confusion.iou().map((v) => (Number.isNaN(v) ? null : v)) };
  }
  return {
    miou_real: real.confusion.miou(),
    miou_syn: syn ? results.get(syn.name)!.confusion.miou() : null,
    iou_real: Object.fromEntries(data.classNames.map((n, k) => [n, Number.isNaN(iou[k]!) ? null : iou[k]!])),
    pixel_accuracy_real: real.confusion.pixelAccuracy(),
    hse_real_stage4: hse,
    evaluations,
    steps: 0,
    wall_seconds: 0,
    last: null,
  };
}

function drawCurves(out: string, metricsPath: string): void {
  const lines = (existsSync(metricsPath) ? readLines(metricsPath) : []) as Record<string, unknown>[];
  const train = lines.filter((l) => l.kind === 'train') as { step: number; ce: number; nce: Record<string, number> }[];
  const evals = lines.filter((l) => l.kind === 'eval') as { step: number; miou: number }[];
  const loss: Series[] = [{ name: 'CE', points: train.map((l) => [l.step, l.ce]) }];
  for (const s of ['3', '4']) {
    if (train.some((l) => l.nce?.[s] !== undefined)) loss.push({ name: `NCE stage ${s}`, points: train.map((l) => [l.step, l.nce[s] ?? NaN]) });
  }
  const panels = [{ title: 'training losses', series: loss }];
  if (evals.length) panels.push({ title: 'real-val mIoU', series: [{ name: 'mIoU', points: evals.map((e) => [e.step, 100 * e.miou]) }] });
  linePlot(panels).save(join(out, 'curves.png'));
}

function readLines(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}
