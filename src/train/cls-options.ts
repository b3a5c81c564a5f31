// train:cls, eval:cls and compare:cls options: train:seg's flags (src/cli/options.ts) with the
// classification recipe (recipe §5) for VisDA-17 and budget-sized defaults for the embedded digit task,
// plus --reg for the L2 comparison points.
import { parseTrainOptions, OptionError, type TrainOptions } from '../cli/options.js';
import type { Regularizer } from './step.js';
import type { ClsOptions } from './train-cls.js';

/** Recipe §5 (VisDA-17): ResNet-101, batch 32, lr 1e-4, factor 0.1, λ 0.1, 30 epochs of ~152k images. */
export const CLS_RECIPE: Partial<TrainOptions> = {
  model: 'resnet101',
  layers: [3, 4, 23, 3],
  batch: 32,
  lr: 1e-4,
  factor: 0.1,
  csg: 0.1,
  chunks: 1,
  K: 65536,
  iters: Math.floor((30 * 152397) / 32),
  out: 'runs/visda',
  evalEvery: 0,
  checkpointEvery: 1000,
};

/**
 * The embedded digit task, sized so that `npm run train:cls` finishes within 15 minutes on 2 CPU cores
 * under lavapipe, set-up included, and compare:cls's 12 runs fit an afternoon (docs/CLASSIFICATION.md):
 * 32-pixel images (layer4 is one pixel), 80 steps with a 20-step warm-up (the recipe's 100 would leave
 * the rate low for most of the run), head lr 0.05 with the backbone at ×0.1 and λ 0.1
 * (λ·backbone lr = 5e-4, the pilot's stable bound).
 */
export const CLS_DIGITS_DEFAULTS: Partial<TrainOptions> = {
  train: 'digits',
  val: 'digits',
  model: 'resnet50',
  layers: [1, 1, 1, 1], // the first block of each ImageNet ResNet-50 stage
  width: 64,
  size: 32,
  counts: '4000,200,300,600',
  batch: 16,
  iters: 80,
  warmup: 20,
  lr: 0.05, // fc_new and fc_csg; the backbone trains at lr·factor
  factor: 0.1,
  csg: 0.1,
  chunks: 1,
  K: 1024,
  out: 'runs/digits-cls',
  logEvery: 10,
  evalEvery: 40,
  checkpointEvery: 40,
};

function parseRegularizer(spec: string): Regularizer {
  const m = /^(weight-l2|feature-l2):([0-9.eE+-]+)$/.exec(spec);
  const weight = m ? Number(m[2]) : NaN;
  if (!m || !(weight >= 0)) throw new OptionError(`--reg: expected weight-l2:W or feature-l2:W with W ≥ 0, got '${spec}'`);
  return { kind: m[1] as Regularizer['kind'], weight };
}

/** Takes `--NAME VALUE` (or --NAME=VALUE) of the given names out of argv. */
export function takeFlags(argv: string[], names: string[]): { taken: Record<string, string>; rest: string[] } {
  const taken: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s);
    const name = flag!.replace(/^--/, '');
    if (!flag!.startsWith('--') || !names.includes(name)) {
      rest.push(argv[i]!);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new OptionError(`${flag} needs a value`);
    taken[name] = value;
  }
  return { taken, rest };
}

/** The embedded digit task unless --train names a data set. */
export function parseClsOptions(argv: string[], extra: Partial<TrainOptions> = {}): ClsOptions & { help: boolean; embedded: boolean } {
  const { taken, rest } = takeFlags(argv, ['reg']);
  const embedded = !rest.some((a) => a.startsWith('--train'));
  const o = parseTrainOptions(rest, { ...(embedded ? CLS_DIGITS_DEFAULTS : CLS_RECIPE), ...extra });
  return { ...o, regularizer: taken.reg ? parseRegularizer(taken.reg) : null, embedded };
}

export function describeClsRun(o: ClsOptions & { embedded: boolean }): string {
  const task = o.embedded
    ? `embedded task: 10 digit classes on ${o.size}×${o.size} images; train on rendered (synthetic) digits, choose on real-val, report on real-test (real MNIST digits over real photographs)`
    : `${o.train} → ${o.val}`;
  const reg = o.regularizer ? `, ${o.regularizer.kind} ${o.regularizer.weight}` : '';
  return (
    `[train:cls] ${task}.\n` +
    `[train:cls] ResNet layers ${o.layers.join('.')} from ${o.weights}, fc_new 2048→512→C; whole network in eval mode; ` +
    `batch ${o.batch}, ${o.iters} steps, lr ${o.lr} (backbone ×${o.factor}), RandAugment(1, 6) q and k views; ` +
    `CSG λ ${o.csg}${o.csg > 0 ? `, stages ${o.stages.join(',')}, one patch per image, ${o.apool ? 'A-Pool' : 'average pooling'}, τ ${o.tau}, m ${o.momentumEma}, K ${o.K}` : ' (baseline)'}${reg}.\n`
  );
}
