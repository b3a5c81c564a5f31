// Segmentation as a task of the training core (core.ts): the task's data, the CSG model from ImageNet
// weights, the CSG step, real-val mIoU for choosing settings, and the final evaluation on the real
// domain with the hyperspherical energy, pictures and summary.json.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, TensorError } from '../tensor/index.js';
import { setDropoutSeedState } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { hypersphericalEnergy } from '../csg/index.js';
import { ensureImagenetWeights } from '../io/imagenet-weights.js';
import { readWeights, describeWeights, layoutMetadata, LAYOUT_DESCRIPTION, type BackboneLayout } from '../io/weights.js';
import { trainBatch } from '../data/sampler.js';
import { openTaskData, recipeAugment, type TaskData } from '../data/task.js';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { segmentationStrip, linePlot, type Series } from '../data/picture.js';
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import { formatIouTable } from '../eval/confusion.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, type StepResult, type Stage } from './step.js';
import { hostTensors, CheckpointError } from './checkpoint.js';
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
  const path = o.weights === 'none' ? null : o.weights === 'imagenet' ? await ensureImagenetWeights({ log }) : o.weights;
  const weights = path === null ? null : readWeights(path);
  const layout: BackboneLayout = weights?.layout ?? 'torchvision';
  if (path && weights) log(`--weights ${describeWeights(path, weights)}`);
  else log(`--weights none: random init, ${LAYOUT_DESCRIPTION[layout]}`);
  const model = new CsgDeepLab({
    layers: o.layers,
    width: o.width,
    headWidth: o.headWidth,
    classes,
    headDropout: o.dropout,
    strideIn1x1: layout === 'caffe',
    seed: o.seed,
    queueSize: o.K,
  });
  if (path && weights) {
    let ignored: string[];
    try {
      ({ ignored } = model.encoder_q.loadBackbone(hostTensors(weights.tensors)));
    } catch (e) {
      throw e instanceof TensorError ? new CheckpointError(`--weights ${path}: ${e.message}`) : e;
    }
    // The one partial load: the backbone's entries (all of them) from an ImageNet network; the rest keeps its init.
    const backbone = new Set(model.encoder_q.backboneModules().map(([name]) => name));
    const notLoaded = model.encoder_q.children().filter(([name]) => !backbone.has(name)).map(([name]) => name);
    log(`loaded the backbone (${[...backbone].join(', ')}) from ${path}; ${notLoaded.join(', ')} start from their random init; ${ignored.length} entries of the file not used by layers ${o.layers.join('.')}`);
  }
  model.syncTeacher();
  return { model, norm: layout === 'caffe' ? CAFFE_NORM : IMAGENET_NORM, layout };
}

function formatStep(r: StepResult, stages: Stage[]): string {
  const nce = stages.map((s) => (r.nce[s] !== undefined ? ` nce${s} ${r.nce[s]!.toFixed(3)} top1 ${(100 * r.top1[s]!).toFixed(0)}%` : '')).join('');
  return `ce ${r.ce.toFixed(4)}${nce}`;
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
      const nce = Object.fromEntries(Object.entries(r.nce).map(([s, v]) => [`nce stage ${s}`, v]));
      return {
        losses: { ce: r.ce, ...nce, total: r.total },
        metrics: { ce: r.ce, nce: r.nce, top1: r.top1, top5: r.top5, total: r.total, lr: r.lrs },
        line: formatStep(r, stages),
      };
    },
    select: select
      ? async () => {
          const r = await evaluate(model.encoder_q, select.source, { classes, norm, batch: 16 });
          return { split: select.name, metric: 'miou', value: r.confusion.miou() };
        }
      : undefined,
    async finish(run) {
      const summary = await finalEvaluation(run.out, data, model, norm, classes, log);
      drawCurves(run.out, run.metricsPath);
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
  const core = { out: o.out, iters: o.iters, resume: o.resume, force: o.force, logEvery: o.logEvery, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, config: o };
  return runTraining(core, () => segTask(o, log), { ...hooks, log });
}

/** The final evaluation of every split, the hyperspherical energy of the headline split's features, predictions.png. */
async function finalEvaluation(out: string, data: TaskData, model: CsgDeepLab, norm: Normalization, classes: number, log: (s: string) => void): Promise<Omit<RunSummary, 'last' | 'miou_best' | 'miou_final'>> {
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
