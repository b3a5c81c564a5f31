// Shared test helpers: GPU set-up, seeded random data, tolerance checks and a finite-difference
// gradient checker that every differentiable op goes through.
import { initGpu, closeGpu } from '../src/gpu/index.js';
import { Tensor, Mulberry32, scope, scopeAsync, type Shape } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { mul, sumAll } from '../src/ops/index.js';

/** Opens the GPU before a test file's tests and closes it after, so jest can exit. */
export function useGpu(): void {
  beforeAll(async () => {
    process.env.CSG_WEBGPU_QUIET ??= '1';
    await initGpu();
  });
  afterAll(() => closeGpu());
}

/** Seeded uniform draws in [0, 1) (the engine's Mulberry32). */
export function rng(seed: number): () => number {
  const m = new Mulberry32(seed);
  return () => m.next();
}

export function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function uniform(n: number, seed: number, lo = 0, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Asserts |actual - expected| <= atol + rtol·|expected| everywhere, naming the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol?: number; rtol?: number } = {}, what = 'value'): void {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** Relative L2 error ‖a − e‖ / ‖e‖. */
export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export interface GradCheckInput {
  data: ArrayLike<number>;
  shape: Shape;
}

/**
 * Compares the tape's gradients of L = Σ f(x)·w (w random) with central differences of L.
 * f must be deterministic. Checks at most `maxPoints` coordinates of each input.
 */
export async function gradCheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: GradCheckInput[],
  opts: { eps?: number; atol?: number; rtol?: number; maxPoints?: number; seed?: number; wrt?: number[] } = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const maxPoints = opts.maxPoints ?? 24;
  const wrt = opts.wrt ?? inputs.map((_, i) => i);
  const loss = (xs: Tensor[], w: Tensor): Tensor => sumAll(mul(f(...xs), w));
  const outShape = await scopeAsync(async () => {
    const xs = inputs.map((x) => Tensor.from(x.data, x.shape));
    return [...f(...xs).shape];
  });
  let wSize = 1;
  for (const d of outShape) wSize *= d;
  const wData = randn(wSize, opts.seed ?? 99);
  const evalLoss = async (datas: ArrayLike<number>[]): Promise<number> =>
    scopeAsync(async () => {
      const xs = datas.map((d, i) => Tensor.from(d, inputs[i]!.shape));
      const w = Tensor.from(wData, outShape);
      return (await loss(xs, w).read())[0]!;
    });
  const analytic = await scopeAsync(async () => {
    const xs = inputs.map((x) => Tensor.from(x.data, x.shape));
    wrt.forEach((i) => (xs[i]!.requiresGrad = true));
    const w = Tensor.from(wData, outShape);
    backward(loss(xs, w));
    const grads: Float32Array[] = [];
    for (const i of wrt) {
      const g = xs[i]!.grad;
      if (!g) throw new Error(`gradCheck: input ${i} got no gradient`);
      grads.push((await g.read()) as Float32Array);
      g.dispose();
      xs[i]!.grad = null;
    }
    return grads;
  });
  const r = rng(opts.seed ?? 7);
  for (let j = 0; j < wrt.length; j++) {
    const i = wrt[j]!;
    const n = inputs[i]!.data.length;
    const points = n <= maxPoints ? [...Array(n).keys()] : Array.from({ length: maxPoints }, () => Math.floor(r() * n));
    const numeric: number[] = [];
    const got: number[] = [];
    for (const p of points) {
      const plus = inputs.map((x) => Array.from(x.data));
      const minus = inputs.map((x) => Array.from(x.data));
      plus[i]![p]! += eps;
      minus[i]![p]! -= eps;
      numeric.push(((await evalLoss(plus)) - (await evalLoss(minus))) / (2 * eps));
      got.push(analytic[j]![p]!);
    }
    expectClose(got, numeric, { atol: opts.atol ?? 2e-2, rtol: opts.rtol ?? 2e-2 }, `gradient of input ${i} (finite differences)`);
  }
  scope(() => undefined);
}

/** Shape of an NCHW map, as the references take it. */
export type NCHW = readonly [number, number, number, number];

/** Central differences of a scalar float64 function: the float64 reference for a backward. */
export function numericGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-6): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const keep = xs[i]!;
    xs[i] = keep + h;
    const up = f(xs);
    xs[i] = keep - h;
    const down = f(xs);
    xs[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Σ a·w, the scalar whose gradient numericGradient and gpuGrad take. */
export function dotWith(a: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * w[i]!;
  return s;
}


/** GPU gradient of Σ f(x)·w with respect to x (one input). */
export async function gpuGrad(f: (x: Tensor) => Tensor, x: ArrayLike<number>, shape: number[], w: ArrayLike<number>, outShape: number[]): Promise<Float32Array> {
  return scopeAsync(async () => {
    const xt = Tensor.from(x, shape);
    xt.requiresGrad = true;
    backward(sumAll(mul(f(xt), Tensor.from(w, outShape))));
    return (await xt.grad!.read()) as Float32Array;
  });
}
