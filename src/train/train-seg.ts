// A whole segmentation run: data, the CSG model from ImageNet weights, the training loop with its
// progress bar, metrics, checkpoints (atomic; --resume continues exactly), evaluation on the real
// domain, the hyperspherical energy, pictures and summary.json.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { Tensor } from '../tensor/index.js';
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
import { evaluate, evenlySpaced, type EvalResult, type EvalSample } from '../eval/evaluate.js';
import { formatIouTable, trivialLevels, type TrivialLevels } from '../eval/confusion.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, NonFiniteLossError, type StepResult, type Stage } from './step.js';
import { saveCheckpoint, resolveCheckpoint, loadModelState, loadOptimizerState, readTrainerState, hostTensors } from './checkpoint.js';

export interface RunSummary {
  miou_real: number;
  miou_syn: number | null;
  iou_real: Record<string, number | null>;
  pixel_accuracy_real: number;
  /** The best constant prediction on the real split (mIoU and pixel accuracy each maximised on its own). */
  miou_real_trivial: number;
  pixel_accuracy_real_trivial: number;
  miou_syn_trivial: number | null;
  pixel_accuracy_syn_trivial: number | null;
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
    if (!existsSync(path)) throw new Error(`--weights: ${path} does not exist`);
    const { ignored } = model.encoder_q.loadBackbone(hostTensors(readSafetensors(path).tensors));
    log(`loaded backbone weights from ${path} (${ignored.length} entries not used by layers ${o.layers.join('.')})`);
  }
  model.syncTeacher();
  return { model, norm: imagenet ? CAFFE_NORM : IMAGENET_NORM };
}

function formatStep(r: StepResult, stages: Stage[]): string {
  const nce = stages.map((s) => (r.nce[s] !== undefined ? ` nce${s} ${r.nce[s]!.toFixed(3)} top1 ${(100 * r.top1[s]!).toFixed(0)}%` : '')).join('');
  return `ce ${r.ce.toFixed(4)}${nce}`;
}

export async function trainSeg(o: TrainOptions, hooks: RunHooks = {}): Promise<RunSummary> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const started = performance.now();
  mkdirSync(o.out, { recursive: true });
  const data = openTaskData(o);
  const classes = o.train === 'digits' ? data.classNames.length : o.classes;
  const { model, norm } = await buildModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  let start = 0;
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  if (o.resume) {
    const dir = resolveCheckpoint(o.resume);
    loadModelState(dir, model);
    loadOptimizerState(dir, step.sgd, step.trainable);
    const state = readTrainerState(dir);
    setDropoutSeedState(state.dropout);
    start = state.step;
    log(`resumed from ${dir} at step ${start}`);
  }
  writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(o, null, 2));
  const metricsPath = join(o.out, 'metrics.jsonl');
  if (!o.resume) writeFileSync(metricsPath, '');
  const aug = recipeAugment(data.crop);
  const saveAt = async (stepsDone: number) =>
    saveCheckpoint(o.out, model, step.sgd, step.trainable, { step: stepsDone, dropout: dropoutSeedState(), options: o });

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
  bar?.start(o.iters, start, { losses: '', rate: '–' });
  let last: StepResult | null = null;
  let lastCheckpoint: string | null = null;
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
      if (interrupted || (o.checkpointEvery > 0 && (it + 1) % o.checkpointEvery === 0)) lastCheckpoint = await saveAt(it + 1);
      if (interrupted) {
        bar?.stop();
        log(`saved ${lastCheckpoint}; resume with --resume ${o.out}`);
        process.exit(130);
      }
    }
  } catch (e) {
    bar?.stop();
    const kept = lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint} (resume with --resume ${o.out}).` : 'No checkpoint was written before it.';
    if (e instanceof NonFiniteLossError) throw new NonFiniteLossError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof GpuError) throw new GpuError(`${e.message}\ntraining stopped: the GPU failed${gpu().lost ? ' (device lost)' : ''}. ${kept}`);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  bar?.stop();
  lastCheckpoint = await saveAt(o.iters);
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
    const r = await evaluate(model.encoder_q, split.source, { classes, norm, batch: 16, features: split.hse, keep: evenlySpaced(split.source.count, PICTURE_ROWS) });
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
  const realTrivial = trivialLevels(real.confusion.labelHistogram());
  const synTrivial = syn ? trivialLevels(results.get(syn.name)!.confusion.labelHistogram()) : null;
  log(`\n${headline.name} (${headline.source.count} images):\n${formatIouTable(data.classNames, iou, real.confusion.miou(), real.confusion.pixelAccuracy())}`);
  log(formatTrivial(headline.name, realTrivial, data.classNames));
  if (syn) {
    log(`${syn.name} mIoU ${(100 * results.get(syn.name)!.confusion.miou()).toFixed(2)}`);
    log(formatTrivial(syn.name, synTrivial!, data.classNames));
  }
  if (hse !== null) log(`hyperspherical energy (s = 1, mean over pairs) of ${headline.name} stage-4 features: ${hse.toFixed(4)}`);
  const strip = segmentationStrip(
    real.samples.map((s) => ({ width: s.width, height: s.height, image: s.image, prediction: s.prediction, truth: s.label, caption: sampleCaption(s, data.classNames) })),
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
    miou_real_trivial: realTrivial.miou,
    pixel_accuracy_real_trivial: realTrivial.pixelAccuracy,
    miou_syn_trivial: synTrivial?.miou ?? null,
    pixel_accuracy_syn_trivial: synTrivial?.pixelAccuracy ?? null,
    hse_real_stage4: hse,
    evaluations,
    steps: 0,
    wall_seconds: 0,
    last: null,
  };
}

/** Real-test images in predictions.png: evenly spaced over the split, never picked by their score. */
const PICTURE_ROWS = 8;

/** "img 62 mIoU 45.6 stroke 30.1": the image's index in its split and its own IoU. */
function sampleCaption(s: EvalSample, classNames: string[]): string {
  const perClass = classNames.length <= 3 ? s.iou.slice(1).map((v, k) => ` ${classNames[k + 1]} ${Number.isNaN(v) ? '-' : (100 * v).toFixed(1)}`).join('') : '';
  return `img ${s.index} mIoU ${(100 * s.miou).toFixed(1)}${perClass}`;
}

function formatTrivial(split: string, t: TrivialLevels, names: string[]): string {
  return `  ${split} trivial level (best constant prediction): mIoU ${(100 * t.miou).toFixed(2)} (all '${names[t.miouClass]}'), pixel acc ${(100 * t.pixelAccuracy).toFixed(2)} (all '${names[t.pixelAccuracyClass]}')`;
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
