// Keras-applications ResNet weights (TensorFlow.js layers format) → a torchvision-named state dict.
// Keras convs are HWIO with a bias and BN eps 1e-3; torchvision convs are OIHW without bias and BN eps
// 1e-5. Both differences fold exactly into the BN that follows each conv, so the result is a plain
// torchvision ResNet state dict (plus "stride on the first 1×1", which the metadata records).
import { numel, tensorEntry, type StateDict, type TensorSpec } from './safetensors.js';

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

export interface TfjsManifestGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

export interface NamedArray {
  shape: number[];
  values: Float32Array;
}

/** Splits each manifest group's shards (concatenated in order) into its named float32 weights. */
export function readTfjsWeights(manifest: TfjsManifestGroup[], readShard: (path: string) => Uint8Array, source: string): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const group of manifest) {
    const shards = group.paths.map(readShard);
    const all = new Uint8Array(shards.reduce((s, b) => s + b.byteLength, 0));
    let at = 0;
    for (const b of shards) {
      all.set(b, at);
      at += b.byteLength;
    }
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32' || w.quantization !== undefined) throw new Error(`${source}: weight "${w.name}": only unquantised float32 is supported, got ${w.dtype}${w.quantization ? ' (quantised)' : ''}`);
      const bytes = numel(w.shape) * 4;
      if (offset + bytes > all.byteLength) throw new Error(`${source}: weight "${w.name}" runs past the end of its shards (${group.paths.join(', ')}: ${all.byteLength} bytes)`);
      out.set(w.name, { shape: w.shape, values: new Float32Array(all.slice(offset, offset + bytes).buffer) });
      offset += bytes;
    }
    if (offset !== all.byteLength) throw new Error(`${source}: shards ${group.paths.join(', ')} hold ${all.byteLength - offset} bytes after the last weight`);
  }
  return out;
}

/** torchvision's ResNet (Bottleneck) state dict: names, shapes and dtypes. */
export function torchvisionResNetSpec(blocks: readonly number[] = [3, 4, 6, 3], numClasses = 1000): Map<string, TensorSpec> {
  const spec = new Map<string, TensorSpec>();
  const f32 = (name: string, shape: number[]) => spec.set(name, { shape, dtype: 'F32' });
  const bn = (prefix: string, c: number) => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) f32(`${prefix}.${p}`, [c]);
    spec.set(`${prefix}.num_batches_tracked`, { shape: [], dtype: 'I64' });
  };
  f32('conv1.weight', [64, 3, 7, 7]);
  bn('bn1', 64);
  let cin = 64;
  blocks.forEach((count, l) => {
    const width = 64 * 2 ** l;
    for (let b = 0; b < count; b++) {
      const p = `layer${l + 1}.${b}`;
      f32(`${p}.conv1.weight`, [width, cin, 1, 1]);
      bn(`${p}.bn1`, width);
      f32(`${p}.conv2.weight`, [width, width, 3, 3]);
      bn(`${p}.bn2`, width);
      f32(`${p}.conv3.weight`, [width * 4, width, 1, 1]);
      bn(`${p}.bn3`, width * 4);
      if (b === 0) {
        f32(`${p}.downsample.0.weight`, [width * 4, cin, 1, 1]);
        bn(`${p}.downsample.1`, width * 4);
      }
      cin = width * 4;
    }
  });
  f32('fc.weight', [numClasses, cin]);
  f32('fc.bias', [numClasses]);
  return spec;
}

const KERAS_BN_EPS = 1e-3;
const TORCH_BN_EPS = 1e-5;
const BRANCH = { '2a': ['conv1', 'bn1'], '2b': ['conv2', 'bn2'], '2c': ['conv3', 'bn3'], '1': ['downsample.0', 'downsample.1'] } as const;

/** torchvision names of a Keras conv layer and of the BN layer that follows it. */
function convTarget(layer: string): { conv: string; bn: string; kerasBn: string } | undefined {
  if (layer === 'conv1') return { conv: 'conv1', bn: 'bn1', kerasBn: 'bn_conv1' };
  const m = /^res([2-9])([a-z])_branch(2a|2b|2c|1)$/.exec(layer);
  if (!m) return undefined;
  const prefix = `layer${Number(m[1]) - 1}.${m[2].charCodeAt(0) - 97}`;
  const [conv, bn] = BRANCH[m[3] as keyof typeof BRANCH];
  return { conv: `${prefix}.${conv}`, bn: `${prefix}.${bn}`, kerasBn: `bn${m[1]}${m[2]}_branch${m[3]}` };
}

function hwioToOihw({ shape: [kh, kw, ci, co], values }: NamedArray): Float32Array {
  const out = new Float32Array(values.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + w] = values[((h * kw + w) * ci + i) * co + o];
  return out;
}

function transpose2d({ shape: [rows, cols], values }: NamedArray): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/**
 * Converts Keras ResNet weights (`conv1`, `bn_conv1`, `res{2..5}{a..}_branch{2a,2b,2c,1}`,
 * `bn…`, `fc1000`, each `layer/param`) to torchvision names. Every input weight must be used.
 */
export function convertKerasResNet(weights: Map<string, NamedArray>, source: string): StateDict {
  const used = new Set<string>();
  const take = (name: string, rank: number): NamedArray => {
    const w = weights.get(name);
    if (!w) throw new Error(`${source}: weight "${name}" is missing`);
    if (w.shape.length !== rank) throw new Error(`${source}: weight "${name}" has shape ${JSON.stringify(w.shape)}, expected rank ${rank}`);
    used.add(name);
    return w;
  };
  const dict: StateDict = new Map();
  const f32 = (name: string, shape: number[], values: Float32Array) => dict.set(name, tensorEntry('F32', shape, values));

  const layers = new Set([...weights.keys()].map((n) => n.split('/')[0]));
  for (const layer of layers) {
    const target = convTarget(layer);
    if (!target) continue;
    const kernel = take(`${layer}/kernel`, 4);
    const [kh, kw, ci, co] = kernel.shape;
    f32(`${target.conv}.weight`, [co, ci, kh, kw], hwioToOihw(kernel));

    const gamma = take(`${target.kerasBn}/gamma`, 1);
    const beta = take(`${target.kerasBn}/beta`, 1);
    const mean = take(`${target.kerasBn}/moving_mean`, 1);
    const variance = take(`${target.kerasBn}/moving_variance`, 1);
    for (const [what, w] of [['gamma', gamma], ['beta', beta], ['moving_mean', mean], ['moving_variance', variance]] as const) {
      if (w.shape[0] !== co) throw new Error(`${source}: "${target.kerasBn}/${what}" has ${w.shape[0]} channels but "${layer}" has ${co} outputs`);
    }
    // BN(conv(x) + b) with eps 1e-3 = BN'(conv(x)) with mean' = mean − b and eps 1e-5, var' = var + 1e-3 − 1e-5.
    const bias = weights.has(`${layer}/bias`) ? take(`${layer}/bias`, 1).values : new Float32Array(co);
    f32(`${target.bn}.weight`, [co], gamma.values.slice());
    f32(`${target.bn}.bias`, [co], beta.values.slice());
    f32(`${target.bn}.running_mean`, [co], mean.values.map((m, c) => m - bias[c]));
    f32(`${target.bn}.running_var`, [co], variance.values.map((v) => v + KERAS_BN_EPS - TORCH_BN_EPS));
    dict.set(`${target.bn}.num_batches_tracked`, tensorEntry('I64', [], new BigInt64Array(1)));
  }

  if (weights.has('fc1000/kernel')) {
    const kernel = take('fc1000/kernel', 2);
    f32('fc.weight', [kernel.shape[1], kernel.shape[0]], transpose2d(kernel));
    f32('fc.bias', [kernel.shape[1]], take('fc1000/bias', 1).values.slice());
  }

  const unused = [...weights.keys()].filter((n) => !used.has(n));
  if (unused.length > 0) throw new Error(`${source}: weights with no torchvision counterpart: ${unused.join(', ')}`);
  return dict;
}
