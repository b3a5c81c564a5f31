// Segmentation as a task of the training core (core.ts): the task's data, the CSG model from ImageNet
// weights, the CSG step, real-val mIoU for choosing settings, and the final evaluation on the real
// domain with the hyperspherical energy, pictures and summary.json.
import { join } from 'node:path';
import { Tensor } from '../tensor/index.js';
import { setDropoutSeedState } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { hypersphericalEnergy } from '../csg/index.js';
import { layoutMetadata, type BackboneLayout } from '../io/weights.js';
import { trainBatch } from '../data/sampler.js';
import { openTaskData, recipeAugment, type TaskData } from '../data/task.js';
import type { Normalization } from '../data/augment.js';
import { segmentationStrip } from '../data/picture.js';
import { evaluate, evenlySpaced, type EvalResult, type EvalSample } from '../eval/evaluate.js';
import { formatIouTable, trivialLevels, type TrivialLevels } from '../eval/confusion.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, type StepResult, type Stage } from './step.js';
import { coreOptions, readStartWeights, loadStartWeights, stepReport, drawCurves } from './run-parts.js';
import { runTraining, logToStderr, type TrainTask, type TrainHooks, type TrainOutcome } from './core.js';

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
  /** The last training step's scalars. */
  last: StepResult | null;
  /**
   * With --eval-every: the best selection-split mIoU seen during training and its step (chosen on the
   * set it is measured on, as the reference reports its best mIoU), and the final model's mIoU on the
   * same split (the unbiased figure). Null without evaluations during training.
   */
  miou_best: { split: string; value: number; step: number } | null;
  miou_final: { split: string; value: number; step: number } | null;
}

/**
 * Builds the model and loads its starting weights (--weights imagenet, a .safetensors/.pth/.pth.tar, or
 * none); the backbone layout and input normalisation follow the weights file and are stated.
 */
export async function buildModel(o: TrainOptions, classes: number, log: (s: string) => void): Promise<{ model: CsgDeepLab; norm: Normalization; layout: BackboneLayout }> {
  const start = await readStartWeights(o, log);
  const model = new CsgDeepLab({
    layers: o.layers,
    width: o.width,
    headWidth: o.headWidth,
    classes,
    headDropout: o.dropout,
    strideIn1x1: start.layout === 'caffe',
    seed: o.seed,
    queueSize: o.K,
  });
  return { model, norm: loadStartWeights(model, start, log), layout: start.layout };
}

/**
 * The segmentation task on the training core: the task's data, the CSG model from its starting
 * weights, the CSG step on recipe-augmented batches, real-val mIoU as the selection metric, and the
 * final evaluation, energy, pictures and curves.
 */
export async function segTask(o: TrainOptions, log: (s: string) => void): Promise<TrainTask<RunSummary>> {
  const data = openTaskData(o);
  const classes = o.train === 'digits' ? data.classNames.length : o.classes;
  const { model, norm, layout } = await buildModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  const aug = recipeAugment(data.crop);
  let last: StepResult | null = null;
  const select = data.select;
  return {
    model,
    checkpointMetadata: layoutMetadata(layout),
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
      let miouBest: RunSummary['miou_best'] = null;
      let miouFinal: RunSummary['miou_final'] = null;
      if (run.best && select) {
        miouBest = { split: run.best.split, value: run.best.value, step: run.best.step };
        const r = await evaluate(model.encoder_q, select.source, { classes, norm, batch: 16 });
        miouFinal = { split: select.name, value: r.confusion.miou(), step: run.steps };
        log(`${select.name} mIoU: best ${(100 * miouBest.value).toFixed(2)} at step ${miouBest.step} (chosen on this split), final ${(100 * miouFinal.value).toFixed(2)} (unbiased)`);
      }
      return { ...summary, last, miou_best: miouBest, miou_final: miouFinal };
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
  return runTraining(coreOptions(o), () => segTask(o, log), { ...hooks, log });
}

/** The final evaluation of every split, the hyperspherical energy of the headline split's features, predictions.png. */
async function finalEvaluation(out: string, data: TaskData, model: CsgDeepLab, norm: Normalization, classes: number, log: (s: string) => void): Promise<Omit<RunSummary, 'last' | 'miou_best' | 'miou_final'>> {
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
    miou_real_trivial: realTrivial.miou,
    pixel_accuracy_real_trivial: realTrivial.pixelAccuracy,
    miou_syn_trivial: synTrivial?.miou ?? null,
    pixel_accuracy_syn_trivial: synTrivial?.pixelAccuracy ?? null,
    hse_real_stage4: hse,
    evaluations,
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
