// Classification as a task of the training core (core.ts): the embedded digit classification task or
// VisDA-17, the CSG ResNet classifier from ImageNet weights, q/k views (RandAugment → resize → crop),
// evaluation by mean per-class accuracy with flip-averaged sigmoid scores, the hyperspherical energy of
// real-domain stage-4 features, predictions.png, curves.png and summary.json.
import { join } from 'node:path';
import { setDropoutSeedState } from '../nn/index.js';
import { CsgClassifier } from '../csg/model.js';
import { loadDigitsClsTask } from '../data/digits-cls.js';
import { openClsDataset } from '../data/visda.js';
import { RECIPE_VIEW, type ViewOptions } from '../data/cls-augment.js';
import { clsTrainBatch, digitsClsSource, visdaSource, type ClsSource } from '../data/cls-sampler.js';
import { classificationGrid } from '../data/picture.js';
import type { Normalization } from '../data/augment.js';
import { evaluateClassifier, type ClsEvalResult } from '../eval/classify.js';
import { featureEnergy } from '../eval/energy.js';
import type { TrainOptions } from './options.js';
import { CsgTrainStep, stepConfig, type Regularizer, type StepResult, type Stage } from './step.js';
import { coreOptions, readStartWeights, loadStartWeights, stepReport, drawCurves } from './run-parts.js';
import { runTraining, logToStderr, type TrainTask, type TrainHooks, type TrainOutcome } from './core.js';

export interface ClsOptions extends TrainOptions {
  /** compare:cls's comparison points (weight or feature L2 towards ImageNet); none for train:cls. */
  regularizer: Regularizer | null;
  /** The npm ImageNet ResNet-50 on unit-scale inputs (CAFFE_UNIT_NORM, conv1 rescaled) instead of 0–255. */
  unitInput: boolean;
}

export interface ClsSplit {
  name: string;
  source: ClsSource;
  /** The real split whose stage-4 features give the reported hyperspherical energy. */
  hse?: boolean;
}

export interface ClsTaskData {
  train: ClsSource;
  trainView: ViewOptions;
  evalView: ViewOptions;
  /** Average evaluation scores over each image and its mirror (VisDA's objects; not digits, whose
   *  mirror images are other glyphs or none: it cost 20 points of synthetic accuracy). */
  evalFlip: boolean;
  /** Evaluated at the end; the first is the headline (real test for the digits, VisDA's validation). */
  evals: ClsSplit[];
  /** Evaluated every --eval-every steps to choose settings (never the test split). */
  select: ClsSplit | null;
  classNames: readonly string[];
}

export interface ClsSummary {
  /** Mean per-class accuracy on the headline real split (0–1). */
  acc_real: number;
  acc_syn: number | null;
  acc_real_per_class: Record<string, number | null>;
  hse_real: number | null;
  /** Trivial levels: chance (1/C) and the best constant prediction's mean per-class accuracy. */
  chance: number;
  best_constant: number;
  evaluations: Record<string, { mean_per_class: number; accuracy: number; per_class: (number | null)[] }>;
  /** The last training step's scalars. */
  last: StepResult | null;
}

/** The digits' views at their own size: RandAugment's translation scaled from 100 px at 224. */
export function digitsView(size: number): ViewOptions {
  return { resize: size, crop: size, randAugment: { n: 1, m: 6, translateMax: Math.round((100 * size) / 224) } };
}

export function openClsTaskData(o: TrainOptions): ClsTaskData {
  if (o.train === 'digits' || o.val === 'digits') {
    if (o.train !== 'digits' || o.val !== 'digits') throw new Error('--train digits goes with --val digits (the embedded task)');
    const counts = o.counts.split(',').map(Number);
    if (counts.length !== 4 || !counts.every((c) => Number.isInteger(c) && c > 0)) {
      throw new Error(`--counts: four positive counts expected (trainSyn,valSyn,valReal,testReal), got ${o.counts}`);
    }
    const [trainSyn, valSyn, valReal, testReal] = counts as [number, number, number, number];
    const task = loadDigitsClsTask({ seed: 0, size: o.size, trainSyn, valSyn, valReal, testReal });
    const source = (name: string, split: Parameters<typeof digitsClsSource>[1]) => digitsClsSource(name, split, task.classNames);
    const view = digitsView(o.size);
    return {
      train: source('synthetic train', task.trainSyn),
      trainView: view,
      evalView: { ...view, randAugment: null },
      evalFlip: false,
      evals: [
        { name: 'real test', source: source('real test', task.testReal), hse: true },
        { name: 'synthetic val', source: source('synthetic val', task.valSyn) },
      ],
      select: { name: 'real val', source: source('real val', task.valReal) },
      classNames: task.classNames,
    };
  }
  const val = visdaSource(openClsDataset(o.val, 'val'));
  return {
    train: visdaSource(openClsDataset(o.train, 'train')),
    trainView: RECIPE_VIEW,
    evalView: { ...RECIPE_VIEW, randAugment: null },
    evalFlip: true,
    evals: [{ name: 'real val', source: val, hse: true }],
    select: null,
    classNames: val.classNames,
  };
}

/** The CSG classifier with its starting weights; returns the input normalisation they expect. With
 *  `unitInput` the npm ImageNet ResNet-50 takes unit-scale inputs (CAFFE_UNIT_NORM); another
 *  Caffe-layout file given by path is taken as it is (0–255 inputs). */
export async function buildClsModel(o: ClsOptions, classes: number, log: (s: string) => void): Promise<{ model: CsgClassifier; norm: Normalization }> {
  const start = await readStartWeights(o, log);
  const model = new CsgClassifier({
    layers: o.layers,
    width: o.width,
    classes,
    strideIn1x1: start.layout === 'caffe', // the npm (Keras/Caffe) ResNet-50: stride on the first 1×1
    seed: o.seed,
    queueSize: o.K,
  });
  return { model, norm: loadStartWeights(model, start, log, o.weights === 'imagenet' && o.unitInput) };
}

/**
 * The classification task on the training core: the task's data, the CSG classifier from its starting
 * weights, the CSG step (plus an optional L2 pull) on q/k views, real-val mean per-class accuracy as
 * the selection metric, and the final evaluation, energy, pictures and curves.
 */
export async function clsTask(o: ClsOptions, log: (s: string) => void): Promise<TrainTask<ClsSummary>> {
  const data = openClsTaskData(o);
  const classes = data.classNames.length;
  const { model, norm } = await buildClsModel(o, classes, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, { ...stepConfig(o), regularizer: o.regularizer ?? undefined });
  setDropoutSeedState({ base: o.seed * 7919 + 1, calls: 0 });
  const evalOptions = { classes, norm, view: data.evalView, flip: data.evalFlip, batch: 16 };
  const select = data.select;
  let last: StepResult | null = null;
  return {
    model,
    sgd: step.sgd,
    params: step.trainable,
    async step(it) {
      const b = clsTrainBatch(data.train, o.batch, o.seed, it, data.trainView, norm, o.csg > 0);
      last = await step.run(it, { n: b.n, height: b.size, width: b.size, images: b.images, keys: b.keys ?? null, labels: b.labels });
      return stepReport(last, stages);
    },
    select: select
      ? async () => {
          const r = await evaluateClassifier(model.encoder_q, select.source, evalOptions);
          return { split: select.name, metric: 'accuracy', value: r.meanPerClass };
        }
      : undefined,
    async finish(run) {
      const summary = await finalClsEvaluation(run.out, data, model.encoder_q, evalOptions, log);
      drawCurves(run.out, run.metricsPath, { key: 'accuracy', title: `${select?.name ?? 'val'} mean per-class accuracy (%)` });
      return { ...summary, last };
    },
    dispose() {
      step.dispose();
      model.dispose();
    },
  };
}

/** A whole classification run on the training core. */
export async function trainCls(o: ClsOptions, hooks: TrainHooks = {}): Promise<TrainOutcome<ClsSummary>> {
  const log = hooks.log ?? logToStderr;
  return runTraining(coreOptions(o), () => clsTask(o, log), { ...hooks, log });
}

const pct = (x: number | null) => (x === null || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(2)}`);

/** The per-class table of a result, with the trivial levels beside the mean. */
export function formatAccuracyTable(classNames: readonly string[], r: ClsEvalResult): string {
  const chance = 1 / classNames.length;
  const rows = classNames.map((name, c) => `  ${name.padEnd(12)} ${pct(r.perClass[c]!).padStart(6)}`);
  return `${rows.join('\n')}\n  ${'mean'.padEnd(12)} ${pct(r.meanPerClass).padStart(6)}   (chance and best constant prediction: ${pct(chance)}; overall accuracy ${pct(r.accuracy)})`;
}

/** Evaluates every split, writes predictions.png; returns the summary. */
export async function finalClsEvaluation(
  out: string,
  data: ClsTaskData,
  model: CsgClassifier['encoder_q'],
  evalOptions: Parameters<typeof evaluateClassifier>[2],
  log: (s: string) => void,
): Promise<Omit<ClsSummary, 'last'>> {
  const results = new Map<string, ClsEvalResult>();
  for (const split of data.evals) results.set(split.name, await evaluateClassifier(model, split.source, { ...evalOptions, features: split.hse }));
  const headline = data.evals[0]!;
  const real = results.get(headline.name)!;
  const hse = real.features && real.featureDim > 0 ? await featureEnergy(real.features, real.featureDim) : null;
  const syn = data.evals.find((e) => e.name.startsWith('synthetic'));
  log(`\n${headline.name} (${headline.source.count} images), per-class accuracy (%):\n${formatAccuracyTable(data.classNames, real)}`);
  if (syn) log(`${syn.name} mean per-class accuracy ${pct(results.get(syn.name)!.meanPerClass)}`);
  if (hse !== null) log(`hyperspherical energy (s = 1, mean over pairs) of ${headline.name} stage-4 features: ${hse.toFixed(4)}`);
  const shown = Array.from({ length: Math.min(40, headline.source.count) }, (_, i) => {
    const s = headline.source.get(i);
    return { ...s, predicted: data.classNames[real.predictions[i]!]!, truth: data.classNames[s.label]! };
  });
  classificationGrid(shown, 10, Math.max(1, Math.round(64 / shown[0]!.width))).save(join(out, 'predictions.png'));
  const evaluations: ClsSummary['evaluations'] = {};
  const orNull = (v: number) => (Number.isNaN(v) ? null : v);
  for (const [name, r] of results) evaluations[name] = { mean_per_class: r.meanPerClass, accuracy: r.accuracy, per_class: r.perClass.map(orNull) };
  const present = real.perClass.filter((v) => !Number.isNaN(v)).length;
  return {
    acc_real: real.meanPerClass,
    acc_syn: syn ? results.get(syn.name)!.meanPerClass : null,
    acc_real_per_class: Object.fromEntries(data.classNames.map((n, c) => [n, orNull(real.perClass[c]!)])),
    hse_real: hse,
    chance: 1 / data.classNames.length,
    // A constant prediction is right on every image of one class and wrong on the others.
    best_constant: 1 / Math.max(1, present),
    evaluations,
  };
}
