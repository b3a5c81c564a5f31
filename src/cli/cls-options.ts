// train:cls, eval:cls and compare:cls flags: train:seg's (options.ts) with the classification recipe
// (recipe §5) for VisDA-17 or the embedded digit task's defaults (src/train/options.ts), plus --reg for
// the L2 comparison points and --input-scale for the npm ResNet-50's inputs (docs/CLASSIFICATION.md).
import { CLS_DIGITS_DEFAULTS, CLS_RECIPE } from '../train/options.js';
import type { Regularizer } from '../train/step.js';
import type { ClsOptions } from '../train/train-cls.js';
import { parseTrainOptions, OptionError } from './options.js';

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

function parseInputScale(spec: string): boolean {
  if (spec !== 'unit' && spec !== '255') throw new OptionError(`--input-scale: expected unit or 255, got '${spec}'`);
  return spec === 'unit';
}

/** The embedded digit task unless --train names a data set. `extra` may carry a run's saved options
 *  (eval:cls), unitInput included. */
export function parseClsOptions(argv: string[], extra: Partial<ClsOptions> = {}): ClsOptions & { help: boolean; embedded: boolean } {
  const { taken, rest } = takeFlags(argv, ['reg', 'input-scale']);
  const embedded = !rest.some((a) => a.startsWith('--train'));
  const o = parseTrainOptions(rest, { ...(embedded ? CLS_DIGITS_DEFAULTS : CLS_RECIPE), ...extra });
  const unitInput = taken['input-scale'] ? parseInputScale(taken['input-scale']) : (extra.unitInput ?? false);
  return { ...o, regularizer: taken.reg ? parseRegularizer(taken.reg) : null, unitInput, embedded };
}

export function describeClsRun(o: ClsOptions & { embedded: boolean }): string {
  const task = o.embedded
    ? `embedded task: 10 digit classes on ${o.size}×${o.size} images; train on rendered (synthetic) digits, choose on real-val, report on real-test (real MNIST digits over real photographs)`
    : `${o.train} → ${o.val}`;
  const reg = o.regularizer ? `, ${o.regularizer.kind} ${o.regularizer.weight}` : '';
  const why = o.embedded
    ? `[train:cls] defaults chosen on real-val by short runs (docs/CLASSIFICATION.md); at this budget real accuracy stays a few points above chance (10 %); --size 64 --layers 3.4.6.3 --iters 300 is the pilot's scale.\n`
    : '';
  return (
    `[train:cls] ${task}.\n` +
    `[train:cls] ResNet layers ${o.layers.join('.')} from ${o.weights}${o.weights === 'imagenet' ? (o.unitInput ? ' (inputs of unit scale, conv1 rescaled to match)' : ' (0–255 inputs)') : ''}, fc_new 2048→512→C; whole network in eval mode; ` +
    `batch ${o.batch}, ${o.iters} steps, lr ${o.lr} (backbone ×${o.factor}), RandAugment(1, 6) q and k views; ` +
    `CSG λ ${o.csg}${o.csg > 0 ? `, stages ${o.stages.join(',')}, one patch per image, ${o.apool ? 'A-Pool' : 'average pooling'}, τ ${o.tau}, m ${o.momentumEma}, K ${o.K}` : ' (baseline)'}${reg}.\n` +
    why
  );
}
