// The flags shared by train:seg, compare:seg, csg:step and eval:seg: every recipe option, with the
// recipe's default for real data (GTA5 → Cityscapes) and the embedded task's defaults where they differ.
import { parseArgs } from 'node:util';

export interface TrainOptions {
  train: string; // 'digits' or 'gta5:DIR' (optionally 'gta5:DIR:LIST')
  val: string; // 'digits' or 'cityscapes:DIR'
  model: string; // deeplab50 | deeplab101 | deeplab-small (segmentation); resnet50 | resnet101 (classification)
  layers: number[]; // blocks per ResNet stage
  width: number; // ResNet base width (64 for the ImageNet weights)
  headWidth: number; // ASPP and head channels (256 in the recipe)
  classes: number;
  batch: number;
  crop: number;
  lr: number; // base rate (head); backbone gets lr·factor
  factor: number;
  iters: number; // iterations of this run
  itersMax: number; // it_max of the poly schedule (defaults to iters)
  warmup: number; // steps of the quadratic warm-up (100 in the recipe)
  csg: number; // λ; 0 = baseline
  stages: number[];
  chunks: number;
  K: number;
  tau: number;
  momentumEma: number;
  apool: boolean;
  mlp: boolean;
  dropout: number;
  seed: number;
  weights: string; // 'imagenet', a safetensors path, or 'none'
  out: string;
  resume: string | null;
  logEvery: number;
  evalEvery: number;
  checkpointEvery: number;
  size: number; // embedded task: image side
  counts: string; // embedded task: trainSyn,valSyn,valReal,testReal
  digitClasses: number; // embedded task: 2 (stroke/background) or 11
}

const RECIPE: TrainOptions = {
  train: 'digits',
  val: 'digits',
  model: 'deeplab50',
  layers: [3, 4, 6, 3],
  width: 64,
  headWidth: 256,
  classes: 19,
  batch: 6,
  crop: 512,
  lr: 1e-3,
  factor: 0.1,
  iters: 100000,
  itersMax: 0,
  warmup: 100,
  csg: 75,
  stages: [3, 4],
  chunks: 8,
  K: 65536,
  tau: 0.07,
  momentumEma: 0.999,
  apool: true,
  mlp: true,
  dropout: 0.5,
  seed: 0,
  weights: 'imagenet',
  out: 'runs/latest',
  resume: null,
  logEvery: 10,
  evalEvery: 0,
  checkpointEvery: 500,
  size: 64,
  counts: '2000,250,250,500',
  digitClasses: 2,
};

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
  help: { type: 'boolean' },
} as const;

export class OptionError extends Error {
  override name = 'OptionError';
}

function num(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new OptionError(`--${flag}: '${v}' is not a number`);
  return n;
}

function int(flag: string, v: string, min = 0): number {
  const n = num(flag, v);
  if (!Number.isInteger(n) || n < min) throw new OptionError(`--${flag}: '${v}' must be an integer ≥ ${min}`);
  return n;
}

function list(flag: string, v: string, sep: string): number[] {
  return v.split(sep).map((p) => int(flag, p, 1));
}

export const MODEL_LAYERS: Record<string, number[]> = {
  deeplab50: [3, 4, 6, 3],
  deeplab101: [3, 4, 23, 3],
  'deeplab-small': [1, 1, 1, 1],
  resnet50: [3, 4, 6, 3],
  resnet101: [3, 4, 23, 3],
};

/**
 * Parses argv. `defaults` overrides the recipe (the embedded task has its own budget-sized defaults).
 * Flags given on the command line always win.
 */
export function parseTrainOptions(argv: string[], defaults: Partial<TrainOptions> = {}): TrainOptions & { help: boolean } {
  const { values, positionals } = parseArgs({ args: argv, options: SPEC, allowPositionals: true, strict: true });
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
  if (s('lr')) o.lr = num('lr', s('lr')!);
  if (s('factor')) o.factor = num('factor', s('factor')!);
  if (s('iters')) o.iters = int('iters', s('iters')!, 1);
  if (s('iters-max')) o.itersMax = int('iters-max', s('iters-max')!, 1);
  if (s('warmup')) o.warmup = int('warmup', s('warmup')!, 1);
  if (s('csg')) o.csg = num('csg', s('csg')!);
  if (s('stages')) o.stages = list('stages', s('stages')!, ',');
  if (o.stages.some((st) => st !== 3 && st !== 4)) throw new OptionError(`--stages: only 3 and 4 are supported, got ${o.stages.join(',')}`);
  if (s('chunks')) o.chunks = int('chunks', s('chunks')!, 1);
  if (s('K')) o.K = int('K', s('K')!, 1);
  if (s('tau')) o.tau = num('tau', s('tau')!);
  if (s('m')) o.momentumEma = num('m', s('m')!);
  if (v['no-apool']) o.apool = false;
  if (v['no-mlp']) o.mlp = false;
  if (s('dropout')) o.dropout = num('dropout', s('dropout')!);
  if (s('seed')) o.seed = int('seed', s('seed')!);
  if (s('weights')) o.weights = s('weights')!;
  if (s('out')) o.out = s('out')!;
  if (s('resume')) o.resume = s('resume')!;
  if (s('log-every')) o.logEvery = int('log-every', s('log-every')!, 1);
  if (s('eval-every')) o.evalEvery = int('eval-every', s('eval-every')!);
  if (s('checkpoint-every')) o.checkpointEvery = int('checkpoint-every', s('checkpoint-every')!);
  if (s('size')) o.size = int('size', s('size')!, 16);
  if (s('counts')) o.counts = s('counts')!;
  if (s('digit-classes')) o.digitClasses = int('digit-classes', s('digit-classes')!, 2);
  if (o.itersMax === 0) o.itersMax = o.iters;
  if (o.K < o.batch * o.chunks * o.chunks) throw new OptionError(`--K ${o.K} is smaller than the keys of one batch (${o.batch}·${o.chunks}²)`);
  return { ...o, help: Boolean(v.help) };
}

export const HELP = `Flags (recipe defaults for GTA5 → Cityscapes; the embedded digits task sizes some for a 2-core CPU):
  --train digits | gta5:DIR[:LIST]     training data (synthetic)
  --val digits | cityscapes:DIR[:LIST] evaluation data (real)
  --model deeplab50|deeplab101|deeplab-small   --layers 3.4.6.3   --width 64   --head-width 256   --classes 19
  --weights imagenet|FILE.safetensors|none      start of student and teacher
  --batch 6  --crop 512  --lr 1e-3  --factor 0.1  --iters N  --iters-max N  --warmup 100  --dropout 0.5  --seed 0
  --csg 75 (λ; 0 = baseline)  --stages 3,4  --chunks 8  --K 65536  --tau 0.07  --m 0.999  --no-apool  --no-mlp
  --out DIR  --resume DIR|FILE  --log-every 10  --eval-every 0  --checkpoint-every 500
  digits task: --size 64  --counts trainSyn,valSyn,valReal,testReal  --digit-classes 2|11`;
