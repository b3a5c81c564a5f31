// A whole segmentation run: data, the CSG model from ImageNet weights, the training loop with its
// progress bar, metrics, checkpoints (atomic; --resume continues exactly), evaluation on the real
// domain, the hyperspherical energy, pictures and summary.json.
import { join } from 'node:path';
import { dropoutSeedState } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadDigitsTask } from '../data/digits.js';
import { digitsSource, datasetSource, trainBatch, type SampleSource } from '../data/sampler.js';
import { openSegDataset, CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from '../data/cityscapes.js';
import { CSG_JITTER, type AugmentOptions, type Normalization } from '../data/augment.js';
import { segmentationStrip } from '../data/picture.js';
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import { featureEnergy } from '../eval/energy.js';
import { formatIouTable } from '../eval/confusion.js';
import type { TrainOptions } from '../cli/options.js';
import { CsgTrainStep, stepConfig, type StepResult, type Stage } from './step.js';
import { trainingLoop, startRun, loadStartWeights, drawCurves, type RunHooks } from './loop.js';
import { saveCheckpoint } from './checkpoint.js';

export type { RunHooks } from './loop.js';

export interface EvalSplit {
  name: string;
  source: SampleSource;
  /** Real-domain split whose stage-4 features give the reported hyperspherical energy. */
  hse?: boolean;
}

export interface TaskData {
  train: SampleSource;
  /** Evaluated at the end, in this order; the first real split is the headline mIoU. */
  evals: EvalSplit[];
  /** Evaluated every --eval-every steps to choose settings (never the test split). */
  select: EvalSplit | null;
  classNames: string[];
  palette: [number, number, number][];
  /** Crop for training (the digits are trained at their own size). */
  crop: [number, number];
}

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

export function openTaskData(o: TrainOptions): TaskData {
  if (o.train === 'digits' || o.val === 'digits') {
    if (o.train !== 'digits' || o.val !== 'digits') throw new Error('--train digits goes with --val digits (the embedded task)');
    const [trainSyn, valSyn, valReal, testReal] = o.counts.split(',').map(Number);
    if (![trainSyn, valSyn, valReal, testReal].every((c) => Number.isInteger(c) && c! > 0)) {
      throw new Error(`--counts: four positive counts expected (trainSyn,valSyn,valReal,testReal), got ${o.counts}`);
    }
    const classes = o.digitClasses === 11 ? 11 : 2;
    const task = loadDigitsTask({ seed: 0, size: o.size, classes, trainSyn: trainSyn!, valSyn: valSyn!, valReal: valReal!, testReal: testReal! });
    return {
      train: digitsSource('synthetic train', task.trainSyn),
      evals: [
        { name: 'real test', source: digitsSource('real test', task.testReal), hse: true },
        { name: 'synthetic val', source: digitsSource('synthetic val', task.valSyn) },
      ],
      select: { name: 'real val', source: digitsSource('real val', task.valReal) },
      classNames: task.classNames,
      palette: task.palette,
      crop: [o.size, o.size],
    };
  }
  const train = datasetSource(openSegDataset(o.train));
  const val = datasetSource(openSegDataset(o.val));
  return {
    train,
    evals: [{ name: 'real val', source: val, hse: true }],
    select: null,
    classNames: [...CITYSCAPES_CLASSES],
    palette: CITYSCAPES_PALETTE.map((c) => [...c] as [number, number, number]),
    crop: [o.crop, o.crop],
  };
}

/** Recipe §4 training augmentation: flip, scale 0.75–1.25, crop, ColorJitter key image. */
export function recipeAugment(crop: [number, number]): AugmentOptions {
  return { crop, scale: [0.75, 1.25], flip: true, jitter: CSG_JITTER };
}

/** Builds the model and loads its starting weights; returns the input normalisation they expect. */
export async function buildModel(o: TrainOptions, classes: number, log: (s: string) => void): Promise<{ model: CsgDeepLab; norm: Normalization }> {
  const model = new CsgDeepLab({
    layers: o.layers,
    width: o.width,
    headWidth: o.headWidth,
    classes,
    headDropout: o.dropout,
    strideIn1x1: o.weights === 'imagenet', // Keras/Caffe ResNet-50: stride on the first 1×1
    seed: o.seed,
    queueSize: o.K,
  });
  const norm = await loadStartWeights(model, o, log);
  return { model, norm };
}

export async function trainSeg(o: TrainOptions, hooks: RunHooks = {}): Promise<RunSummary> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const started = performance.now();
  const data = openTaskData(o);
  const classes = o.train === 'digits' ? data.classNames.length : o.classes;
  const { model, norm } = await buildModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  const start = startRun(o, model, step, log);
  const aug = recipeAugment(data.crop);
  const saveAt = async (stepsDone: number) =>
    saveCheckpoint(o.out, model, step.sgd, step.trainable, { step: stepsDone, dropout: dropoutSeedState(), options: o });

  const { last } = await trainingLoop(
    {
      out: o.out,
      iters: o.iters,
      start,
      stages,
      logEvery: o.logEvery,
      evalEvery: data.select ? o.evalEvery : 0,
      checkpointEvery: o.checkpointEvery,
      runStep: async (it) => {
        const b = trainBatch(data.train, o.batch, o.seed, it, aug, norm, o.csg > 0);
        return step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels });
      },
      evaluate: async () => {
        const r = await evaluate(model.encoder_q, data.select!.source, { classes, norm, batch: 16 });
        return { split: data.select!.name, miou: r.confusion.miou() };
      },
      save: saveAt,
    },
    hooks,
  );
  const summary = await finalEvaluation(o, data, model, norm, classes, log);
  summary.steps = o.iters;
  summary.last = last;
  summary.wall_seconds = (performance.now() - started) / 1000;
  writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2));
  drawCurves(o.out, { key: 'miou', title: 'real-val mIoU' });
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
  const hse = real.features && real.featureDim > 0 ? await featureEnergy(real.features, real.featureDim) : null;
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
