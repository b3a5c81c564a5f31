// Segmentation as a task of the training core (core.ts): the task's data, the CSG model from ImageNet
// weights, the CSG step, real-val mIoU for choosing settings, and the final evaluation on the real
// domain with the hyperspherical energy, pictures and summary.json.
import { join } from 'node:path';
import { setDropoutSeedState } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { trainBatch } from '../data/sampler.js';
import { openTaskData, recipeAugment, type TaskData } from '../data/task.js';
import type { Normalization } from '../data/augment.js';
import { segmentationStrip } from '../data/picture.js';
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import { formatIouTable } from '../eval/confusion.js';
import { featureEnergy } from '../eval/energy.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, type StepResult, type Stage } from './step.js';
import { loadStartWeights, stepReport, drawCurves } from './run-parts.js';
import { runTraining, logToStderr, type TrainTask, type TrainHooks, type TrainOutcome } from './core.js';

export interface RunSummary {
  miou_real: number;
  miou_syn: number | null;
  iou_real: Record<string, number | null>;
  pixel_accuracy_real: number;
  hse_real_stage4: number | null;
  evaluations: Record<string, { miou: number; pixel_accuracy: number; iou: (number | null)[] }>;
  /** The last training step's scalars. */
  last: StepResult | null;
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
  return { model, norm: await loadStartWeights(model, o, log) };
}

/**
 * The segmentation task on the training core: the task's data, the CSG model from its starting
 * weights, the CSG step on recipe-augmented batches, real-val mIoU as the selection metric, and the
 * final evaluation, energy, pictures and curves.
 */
export async function segTask(o: TrainOptions, log: (s: string) => void): Promise<TrainTask<RunSummary>> {
  const data = openTaskData(o);
  const classes = o.train === 'digits' ? data.classNames.length : o.classes;
  const { model, norm } = await buildModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  const aug = recipeAugment(data.crop);
  let last: StepResult | null = null;
  const select = data.select;
  return {
    model,
    sgd: step.sgd,
    params: step.trainable,
    async step(it) {
      const b = trainBatch(data.train, o.batch, o.seed, it, aug, norm, o.csg > 0);
      const r = await step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels });
      last = r;
      return stepReport(r, stages);
    },
    select: select
      ? async () => {
          const r = await evaluate(model.encoder_q, select.source, { classes, norm, batch: 16 });
          return { split: select.name, metric: 'miou', value: r.confusion.miou() };
        }
      : undefined,
    async finish(run) {
      const summary = await finalEvaluation(run.out, data, model, norm, classes, log);
      drawCurves(run.out, run.metricsPath, { key: 'miou', title: 'real-val mIoU' });
      return { ...summary, last };
    },
    dispose() {
      step.dispose();
      model.dispose();
    },
  };
}

/** A whole segmentation run on the training core. */
export async function trainSeg(o: TrainOptions, hooks: TrainHooks = {}): Promise<TrainOutcome<RunSummary>> {
  const log = hooks.log ?? logToStderr;
  const task = await segTask(o, log);
  return runTraining({ out: o.out, iters: o.iters, resume: o.resume, logEvery: o.logEvery, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, config: o }, task, { ...hooks, log });
}

/** The final evaluation of every split, the hyperspherical energy of the headline split's features, predictions.png. */
async function finalEvaluation(out: string, data: TaskData, model: CsgDeepLab, norm: Normalization, classes: number, log: (s: string) => void): Promise<Omit<RunSummary, 'last'>> {
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
  strip.save(join(out, 'predictions.png'));
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
  };
}
