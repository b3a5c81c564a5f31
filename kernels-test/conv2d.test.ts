import { readFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { conv2d, convVariants, mul, sumAll, type Conv2dOptions } from '../src/ops/index.js';
import { gpu, tunePending, pendingTuning, adapterId } from '../src/gpu/index.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';
import { refConvForward, refConvBackward, refOutSize, type RefConv } from './ref/conv2d.js';

useGpu();

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias: boolean;
  options: Conv2dOptions;
}

// ResNet/DeepLab shapes scaled down, and odd sizes that divide no tile.
const cases: Case[] = [
  { name: '1x1 s1 (bottleneck GEMM path)', x: [2, 8, 6, 5], w: [12, 8, 1, 1], bias: true, options: {} },
  { name: '1x1 s2 (downsample shortcut)', x: [2, 9, 7, 7], w: [10, 9, 1, 1], bias: false, options: { stride: 2 } },
  { name: '3x3 s2 p1 odd sizes', x: [1, 3, 13, 11], w: [5, 3, 3, 3], bias: true, options: { stride: 2, padding: 1 } },
  { name: '7x7 s2 p3 (stem)', x: [1, 3, 15, 14], w: [8, 3, 7, 7], bias: false, options: { stride: 2, padding: 3 } },
  { name: '3x3 d4 p4, 33 outputs', x: [2, 4, 12, 9], w: [33, 4, 3, 3], bias: true, options: { padding: 4, dilation: 4 } },
  { name: '3x3 d12 p12 on a 7x6 map (taps mostly in padding)', x: [1, 6, 7, 6], w: [4, 6, 3, 3], bias: true, options: { padding: 12, dilation: 12 } },
  { name: '3x3 d12 p12 on a 5x30 map (dead taps along one axis only)', x: [1, 3, 5, 30], w: [4, 3, 3, 3], bias: false, options: { padding: 12, dilation: 12 } },
  { name: '3x3 d12 p12 on a 30x5 map (live taps: whole column, not contiguous in kh·kw)', x: [1, 3, 30, 5], w: [4, 3, 3, 3], bias: false, options: { padding: 12, dilation: 12 } },
  { name: '3x3 d4 p4 on 8x12 maps (2-D tiles: blocks of 4 columns)', x: [2, 12, 8, 12], w: [20, 12, 3, 3], bias: true, options: { padding: 4, dilation: 4 } },
  { name: '40 channels, 3x3 d2 p2 (several tiles)', x: [1, 40, 8, 8], w: [40, 40, 3, 3], bias: false, options: { padding: 2, dilation: 2 } },
  { name: '16 channels, 3x3 d3 p3 on a 7x6 map (weight-gradient tiles of one tap, 2 chunks)', x: [2, 16, 7, 6], w: [8, 16, 3, 3], bias: false, options: { padding: 3, dilation: 3 } },
  { name: 'pairs: stride [2,1] padding [0,2] dilation [1,3], 3x2 kernel', x: [1, 3, 9, 10], w: [4, 3, 3, 2], bias: true, options: { stride: [2, 1], padding: [0, 2], dilation: [1, 3] } },
];

function refGeometry(c: Case): RefConv {
  const p = (v: Conv2dOptions['stride'], d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);
  return { x: c.x, w: c.w, stride: p(c.options.stride, 1), padding: p(c.options.padding, 0), dilation: p(c.options.dilation, 1) };
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Forward and the three gradients of Σ y·dy through the tape. */
async function runConv(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, dy: ArrayLike<number> | null, c: Case) {
  return scopeAsync(async () => {
    const xt = Tensor.from(x, c.x);
    const wt = Tensor.from(w, c.w);
    const bt = b ? Tensor.from(b, [c.w[0]]) : null;
    for (const t of [xt, wt, bt]) if (t) t.requiresGrad = true;
    const y = conv2d(xt, wt, bt, c.options);
    const yData = await y.read();
    if (!dy) return { y: yData };
    backward(sumAll(mul(y, Tensor.from(dy, y.shape))));
    return { y: yData, dx: await xt.grad!.read(), dw: await wt.grad!.read(), db: bt ? await bt.grad!.read() : null };
  });
}

const tol = { atol: 2e-4, rtol: 1e-3 };

// Every variant runs core cases (strides, dilations, odd sizes, several tiles) and the PyTorch
// fixture; the default variant on lavapipe runs them all. Pipelines are compiled per shape, which dominates the
// time here, so the other tests reuse these shapes.
// The tiled variant compiles slowest on lavapipe (its loops hold barriers): it runs the fewest.
const allVariants = ['tall', 'regblock', 'panel', 'tiled'] as const;
const coreCases: Record<string, string[]> = {
  // The same kernels as tall with 8-row tiles: strided phases, both weight-gradient tilings, chunks.
  regblock: ['3x3 s2 p1 odd sizes', '16 channels', '3x3 d4 p4 on 8x12'],
  panel: ['1x1 s1', '3x3 s2 p1 odd sizes', '3x3 d4 p4, 33 outputs', 'pairs'],
  tiled: ['3x3 s2 p1 odd sizes', '3x3 d4 p4, 33 outputs'],
};
const casesFor = (variant: string) => (variant === allVariants[0] ? cases : cases.filter((c) => coreCases[variant]!.some((n) => c.name.startsWith(n))));
const named = (prefix: string) => cases.find((c) => c.name.startsWith(prefix))!;

describe.each(allVariants)('conv2d, variant %s', (variant) => {
  beforeAll(() => {
    process.env.CSG_CONV_VARIANT = variant;
  });
  afterAll(() => {
    delete process.env.CSG_CONV_VARIANT;
  });

  for (const c of casesFor(variant)) {
    test(`${c.name}: forward, dx, dW, db against the float64 reference`, async () => {
      if (!convVariants().includes(variant)) return; // all but tiled need subgroups (every test device here has them)
      const g = refGeometry(c);
      const x = randn(size(c.x), 1);
      const w = randn(size(c.w), 2, 0.5);
      const b = c.bias ? randn(c.w[0], 3) : null;
      const yRef = refConvForward(g, x, w, b);
      const dy = randn(yRef.length, 4);
      const got = await runConv(x, w, b, dy, c);
      const ref = refConvBackward(g, x, w, dy);
      expectClose(got.y, yRef, tol, 'y');
      expectClose(got.dx!, ref.dx, tol, 'dx');
      expectClose(got.dw!, ref.dw, tol, 'dW');
      if (b) expectClose(got.db!, ref.db, tol, 'db');
    });
  }

  test('gradients by finite differences (3x3, dilation 4, bias)', async () => {
    const c = named('3x3 d4');
    await gradCheck((x: Tensor, w: Tensor, b: Tensor) => conv2d(x, w, b, c.options), [
      { data: randn(size(c.x), 5), shape: c.x },
      { data: randn(size(c.w), 6), shape: c.w },
      { data: randn(c.w[0], 7), shape: [c.w[0]] },
    ], { maxPoints: 6 });
  });

  test('PyTorch fixture: dilated strided conv with bias', async () => {
    type T = { shape: number[]; data: number[] };
    const here = dirname(fileURLToPath(import.meta.url));
    const f = JSON.parse(readFileSync(join(here, 'fixtures', 'conv.json'), 'utf8')) as Record<string, T> & { options: Conv2dOptions };
    const c: Case = { name: 'torch', x: f.x!.shape as Case['x'], w: f.weight!.shape as Case['w'], bias: true, options: f.options };
    const got = await runConv(f.x!.data, f.weight!.data, f.bias!.data, f.dy!.data, c);
    expect([...c.x.slice(0, 1), c.w[0], ...f.y!.shape.slice(2)]).toEqual(f.y!.shape);
    expectClose(got.y, f.y!.data, tol, 'y');
    expectClose(got.dx!, f.dx!.data, tol, 'dx');
    expectClose(got.dw!, f.dw!.data, tol, 'dW');
    expectClose(got.db!, f.db!.data, tol, 'db');
  });

  test('deterministic: the weight gradient is bitwise identical across runs', async () => {
    const c = named('3x3 s2 p1 odd');
    const x = randn(size(c.x), 8);
    const w = randn(size(c.w), 9);
    const [ho, wo] = refOutSize(refGeometry(c));
    const dy = randn(c.x[0] * c.w[0] * ho * wo, 10);
    const first = await runConv(x, w, null, dy, c);
    const second = await runConv(x, w, null, dy, c);
    expect(Buffer.from(second.dw!.buffer).equals(Buffer.from(first.dw!.buffer))).toBe(true);
    expect(Buffer.from(second.dx!.buffer).equals(Buffer.from(first.dx!.buffer))).toBe(true);
  });
});

describe('conv2d gradients on demand', () => {
  test('an input that needs no gradient gets none, the others are unchanged', async () => {
    const c = named('3x3 s2 p1 odd');
    const g = refGeometry(c);
    const x = randn(size(c.x), 14);
    const w = randn(size(c.w), 15);
    const dy = randn(refConvForward(g, x, w, null).length, 16);
    const got = await scopeAsync(async () => {
      const xt = Tensor.from(x, c.x);
      const wt = Tensor.from(w, c.w);
      const bt = Tensor.from(randn(c.w[0], 17), [c.w[0]]);
      wt.requiresGrad = true;
      const y = conv2d(xt, wt, bt, c.options);
      backward(sumAll(mul(y, Tensor.from(dy, y.shape))));
      return { dx: xt.grad, db: bt.grad, dw: await wt.grad!.read() };
    });
    expect(got.dx).toBeNull();
    expect(got.db).toBeNull();
    expectClose(got.dw, refConvBackward(g, x, w, dy).dw, tol, 'dW');
  });
});

describe('conv2d bad input', () => {
  const t = (shape: number[]) => Tensor.empty(shape);
  test('channel mismatch', () => {
    expect(() => conv2d(t([1, 3, 8, 8]), t([4, 2, 3, 3]), null)).toThrow(/input has 3 channels but weight \[4, 2, 3, 3\] expects 2/);
  });
  test('input or weight not 4-D', () => {
    expect(() => conv2d(t([3, 8, 8]), t([4, 3, 3, 3]), null)).toThrow(/input must be 4-D/);
    expect(() => conv2d(t([1, 3, 8, 8]), t([4, 3, 3]), null)).toThrow(/weight must be 4-D/);
  });
  test('output size ≤ 0', () => {
    expect(() => conv2d(t([1, 3, 4, 4]), t([4, 3, 3, 3]), null, { dilation: 2 })).toThrow(/output size 0×0 ≤ 0/);
  });
  test('bias of the wrong size, bad stride', () => {
    expect(() => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), t([3]), {})).toThrow(/bias must be \[4\]/);
    expect(() => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { stride: 0 })).toThrow(/stride and dilation must be ≥ 1/);
  });
  test('unknown forced variant', () => {
    process.env.CSG_CONV_VARIANT = 'nope';
    try {
      expect(() => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null)).toThrow(/CSG_CONV_VARIANT=nope: this device offers/);
    } finally {
      delete process.env.CSG_CONV_VARIANT;
    }
  });
});

describe('autotune', () => {
  test('times the variants of a new shape once, caches the winner per adapter, then uses it', async () => {
    process.env.CSG_AUTOTUNE_DIR = mkdtempSync(join(tmpdir(), 'csg-autotune-'));
    // A shape the variants have compiled already; nothing was tuned (the tests above forced variants).
    const c = named('3x3 s2 p1 odd');
    const x = randn(size(c.x), 11);
    const w = randn(size(c.w), 12);
    const before = await runConv(x, w, null, randn(5 * 7 * 6, 13), c);
    const queued = pendingTuning().filter((k) => k.includes('n1 c3 13x11 o5'));
    expect(queued.length).toBe(convVariants().length > 1 ? 3 : 0);
    expect(convVariants()[0]).toBe(gpu().hasSubgroups ? 'tall' : 'tiled');
    // A choice another process stored meanwhile must survive this one's save.
    const file = join(process.env.CSG_AUTOTUNE_DIR, `${adapterId(gpu().adapter)}.json`);
    writeFileSync(file, JSON.stringify({ 'conv elsewhere': 'tiled' }));
    const report = await tunePending(1);
    for (const k of queued) expect(Object.keys(report.get(k)!.ms).sort()).toEqual([...convVariants()].sort());
    expect(pendingTuning()).toEqual([]);
    if (queued.length) {
      expect(readdirSync(process.env.CSG_AUTOTUNE_DIR)).toEqual([`${adapterId(gpu().adapter)}.json`]);
      const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(stored['conv elsewhere']).toBe('tiled');
      for (const k of queued) expect(stored[k]).toBe(report.get(k)!.variant);
    }
    const after = await runConv(x, w, null, null, c);
    expectClose(after.y, before.y, tol, 'y after tuning');
    expect(gpu().adapter).toBeDefined();
    delete process.env.CSG_AUTOTUNE_DIR;
  });
});
