// The flags shared by train:seg, compare:seg, csg:step and eval:seg: every recipe option (the options
// and their defaults live in src/train/options.ts), --help, and the embedded task's banner.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RECIPE, MODEL_LAYERS, type TrainOptions } from '../train/options.js';

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

const SPEC = {
  train: { type: 'string' },
  val: { type: 'string' },
  model: { type: 'string' },
  layers: { type: 'string' },
  width: { type: 'string' },
  'head-width': { type: 'string' },
  classes: { type: 'string' },
  batch: { type: 'string' },
  crop: { type: 'string' },
  lr: { type: 'string' },
  factor: { type: 'string' },
  iters: { type: 'string' },
  'iters-max': { type: 'string' },
  warmup: { type: 'string' },
  csg: { type: 'string' },
  stages: { type: 'string' },
  chunks: { type: 'string' },
  K: { type: 'string' },
  tau: { type: 'string' },
  m: { type: 'string' },
  'no-apool': { type: 'boolean' },
  'no-mlp': { type: 'boolean' },
  dropout: { type: 'string' },
  seed: { type: 'string' },
  weights: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'log-every': { type: 'string' },
  'eval-every': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  size: { type: 'string' },
  counts: { type: 'string' },
  'digit-classes': { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** The most iterations a run may ask for: more is a typo (1e99), not a plan. */
export const MAX_ITERS = 1_000_000_000;

export class OptionError extends Error {
  override name = 'OptionError';
}

function num(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new OptionError(`--${flag}: '${v}' is not a number`);
  return n;
}

function int(flag: string, v: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = num(flag, v);
  if (!Number.isInteger(n) || n < min || n > max) throw new OptionError(`--${flag}: '${v}' must be an integer ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}`);
  return n;
}

/** A number in a range: `open` bounds exclude their value (lr > 0), closed ones include it (λ ≥ 0). */
function ranged(flag: string, v: string, range: { above?: number; atLeast?: number; below?: number; atMost?: number }): number {
  const n = num(flag, v);
  const { above, atLeast, below, atMost } = range;
  const ok = (above === undefined || n > above) && (atLeast === undefined || n >= atLeast) && (below === undefined || n < below) && (atMost === undefined || n <= atMost);
  if (!ok) {
    const bounds = [above !== undefined && `> ${above}`, atLeast !== undefined && `≥ ${atLeast}`, below !== undefined && `< ${below}`, atMost !== undefined && `≤ ${atMost}`];
    throw new OptionError(`--${flag}: '${v}' must be ${bounds.filter(Boolean).join(' and ')}`);
  }
  return n;
}

const NEGATIVE_NUMBER = /^-(\d|\.\d|Inf)/;

/**
 * node's parseArgs, its errors as one-line OptionErrors, and a negative number after a flag taken as
 * the flag's value (`--batch -3` is then refused by the flag's range, not read as an option).
 */
export function parseFlags<O extends FlagSpec>(argv: string[], options: O, allowPositionals = false) {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && next !== undefined && NEGATIVE_NUMBER.test(next)) args.push(`${a}=${argv[++i]}`);
    else args.push(a);
  }
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-[^' ]*)/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new OptionError(`unknown flag ${flag}`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new OptionError(`${flag}: ${err.message.includes('argument missing') || err.message.includes('ambiguous') ? 'a value is needed' : 'takes no value'}`);
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new OptionError(`unexpected argument ${/'([^']*)'/.exec(err.message)?.[1] ?? ''}`);
    throw e;
  }
}

function list(flag: string, v: string, sep: string): number[] {
  return v.split(sep).map((p) => int(flag, p, 1));
}

/**
 * Parses argv. `defaults` overrides the recipe (the embedded task has its own budget-sized defaults).
 * Flags given on the command line always win.
 */
export function parseTrainOptions(argv: string[], defaults: Partial<TrainOptions> = {}): TrainOptions & { help: boolean } {
  const { values, positionals } = parseFlags(argv, SPEC, true);
  if (positionals.length) throw new OptionError(`unexpected argument '${positionals[0]}'`);
  const o: TrainOptions = { ...RECIPE, ...defaults };
  const v = values as Record<string, string | boolean | undefined>;
  const s = (k: string) => v[k] as string | undefined;
  if (s('train')) o.train = s('train')!;
  if (s('val')) o.val = s('val')!;
  if (s('model')) {
    const layers = MODEL_LAYERS[s('model')!];
    if (!layers) throw new OptionError(`--model: '${s('model')}' is not one of ${Object.keys(MODEL_LAYERS).join(', ')}`);
    o.model = s('model')!;
    o.layers = layers;
  }
  if (s('layers')) o.layers = list('layers', s('layers')!, '.');
  if (o.layers.length !== 4) throw new OptionError(`--layers: four block counts expected (e.g. 3.4.6.3), got ${o.layers.join('.')}`);
  if (s('width')) o.width = int('width', s('width')!, 1);
  if (s('head-width')) o.headWidth = int('head-width', s('head-width')!, 1);
  if (s('classes')) o.classes = int('classes', s('classes')!, 2);
  if (s('batch')) o.batch = int('batch', s('batch')!, 1);
  if (s('crop')) o.crop = int('crop', s('crop')!, 8);
  if (s('lr')) o.lr = ranged('lr', s('lr')!, { above: 0 });
  if (s('factor')) o.factor = ranged('factor', s('factor')!, { atLeast: 0 });
  if (s('iters')) o.iters = int('iters', s('iters')!, 1, MAX_ITERS);
  if (s('iters-max')) o.itersMax = int('iters-max', s('iters-max')!, 1, MAX_ITERS);
  if (s('warmup')) o.warmup = int('warmup', s('warmup')!, 1);
  if (s('csg')) o.csg = ranged('csg', s('csg')!, { atLeast: 0 });
  if (s('stages')) o.stages = list('stages', s('stages')!, ',');
  if (o.stages.some((st) => st !== 3 && st !== 4)) throw new OptionError(`--stages: only 3 and 4 are supported, got ${o.stages.join(',')}`);
  if (s('chunks')) o.chunks = int('chunks', s('chunks')!, 1);
  if (s('K')) o.K = int('K', s('K')!, 1);
  if (s('tau')) o.tau = ranged('tau', s('tau')!, { above: 0 });
  if (s('m')) o.momentumEma = ranged('m', s('m')!, { atLeast: 0, atMost: 1 });
  if (v['no-apool']) o.apool = false;
  if (v['no-mlp']) o.mlp = false;
  if (s('dropout')) o.dropout = ranged('dropout', s('dropout')!, { atLeast: 0, below: 1 });
  if (s('seed')) o.seed = int('seed', s('seed')!);
  if (s('weights')) o.weights = s('weights')!;
  if (s('out')) o.out = s('out')!;
  if (s('resume')) o.resume = s('resume')!;
  if (v.force) o.force = true;
  if (s('log-every')) o.logEvery = int('log-every', s('log-every')!, 1);
  if (s('eval-every')) o.evalEvery = int('eval-every', s('eval-every')!);
  if (s('checkpoint-every')) o.checkpointEvery = int('checkpoint-every', s('checkpoint-every')!);
  if (s('size')) o.size = int('size', s('size')!, 16);
  if (s('counts')) o.counts = s('counts')!;
  if (s('digit-classes')) o.digitClasses = int('digit-classes', s('digit-classes')!, 2);
  if (o.itersMax === 0) o.itersMax = o.iters;
  if (o.itersMax < o.iters) throw new OptionError(`--iters-max ${o.itersMax} is below --iters ${o.iters}: the poly schedule ends at --iters-max`);
  if (o.K < o.batch * o.chunks * o.chunks) throw new OptionError(`--K ${o.K} is smaller than the keys of one batch (${o.batch}·${o.chunks}²)`);
  return { ...o, help: Boolean(v.help) };
}

export const HELP = `Flags (recipe defaults for GTA5 → Cityscapes; the embedded digits task sizes some for a 2-core CPU):
  --train digits | gta5:DIR[:LIST]     training data (synthetic)
  --val digits | cityscapes:DIR[:LIST] evaluation data (real)
  --model deeplab50|deeplab101|deeplab-small   --layers 3.4.6.3   --width 64   --head-width 256   --classes 19
  --weights imagenet|FILE|none   start of student and teacher (FILE: .safetensors, .pth, .pth.tar; its layout is followed)
  --batch 6  --crop 512  --lr 1e-3  --factor 0.1  --iters N  --iters-max N  --warmup 100  --dropout 0.5  --seed 0
  --csg 75 (λ; 0 = baseline)  --stages 3,4  --chunks 8  --K 65536  --tau 0.07  --m 0.999  --no-apool  --no-mlp
  --out DIR  --resume DIR|FILE  --force (start over in an --out that holds a run; resume with changed flags)  --log-every 10  --eval-every 0  --checkpoint-every 500
  digits task: --size 64  --counts trainSyn,valSyn,valReal,testReal  --digit-classes 2|11`;

/** The banner train:seg and compare:seg print before running the embedded task. */
export function describeDefaults(o: TrainOptions): string {
  return (
    `[train:seg] embedded task: ${o.digitClasses === 2 ? 'stroke vs background' : 'digit classes'} on ${o.size}×${o.size} images; ` +
    `train on rendered (synthetic) digits, test on real MNIST digits over real photographs.\n` +
    `[train:seg] CSG: λ ${o.csg}, stages ${o.stages.join(',')}, ${o.chunks}×${o.chunks} patch grid, ${o.apool ? 'A-Pool' : 'average pooling'}, ` +
    `τ ${o.tau}, m ${o.momentumEma}, K ${o.K}; ResNet-50 layers ${o.layers.join('.')} from ImageNet; batch ${o.batch}, ${o.iters} steps, ` +
    `lr ${o.lr} (backbone ×${o.factor}). λ is small because the learning rate is 50× the paper's (λ·backbone lr ≲ 5e-4).\n`
  );
}
