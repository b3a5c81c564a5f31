// The reductions (src/ops/reduce.ts) against float64 CPU references: sum, mean and max along an axis
// (keepdim or not; the strided and the row kernels), their gradients, the first arg-max, sumAll, and
// finite differences through the GPU; countNonFinite (the checkpoint's finiteness check): NaN and ±Inf are
// counted, the largest finite floats, subnormals and -0 are not, slices count only their own range, and
// sizes straddle the 4096-element workgroup span.
import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { sum, mean, max, argmax, sumAll, mul, countNonFinite } from '../src/ops/index.js';
import { useGpu, randn, rng, expectClose, gradCheck } from './helpers.js';
import { reduceRef, reduceGradRef, countNonFiniteRef, type Reduction } from './ref/reduce.js';

useGpu();

const size = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);
const ops = { sum, mean, max } as const;

// [shape, axis]: inner axes (strided kernel), the last axis, a negative axis, a 1-long axis, and few long
// rows (the workgroup-per-row kernel: inner 1, r ≥ 256).
const cases: [number[], number][] = [
  [[3, 5, 4], 1],
  [[4, 3, 2], 0],
  [[2, 3, 7], -1],
  [[6, 1], 1],
  [[3, 1000], 1],
];

describe.each(['sum', 'mean', 'max'] as const)('%s', (kind: Reduction) => {
  test.each(cases)('forward, keepdim and backward against float64, shape %j axis %d', async (shape, axis) => {
    const ax = axis < 0 ? axis + shape.length : axis;
    const x = randn(size(shape), 1);
    const expected = reduceRef(x, shape, ax, kind).out;
    const g = randn(expected.length, 2);
    const { y, keptShape, dx } = await scopeAsync(async () => {
      const tx = Tensor.from(x, shape);
      tx.requiresGrad = true;
      const out = ops[kind](tx, axis);
      const kept = ops[kind](tx, axis, true);
      backward(sumAll(mul(out, Tensor.from(g, out.shape))));
      return { y: await out.read(), keptShape: kept.shape, dx: await tx.grad!.read() };
    });
    expect(keptShape).toEqual(shape.map((d, i) => (i === ax ? 1 : d)));
    expectClose(y, expected, { atol: 1e-5, rtol: 1e-5 }, `${kind} forward`);
    expectClose(dx, reduceGradRef(x, g, shape, ax, kind), { atol: 1e-6, rtol: 1e-5 }, `${kind} backward`);
  });

  test('finite differences', async () => {
    await gradCheck((t) => ops[kind](t, 1), [{ data: randn(24, 3), shape: [2, 3, 4] }], { eps: 1e-3 });
  });
});

test('argmax is the first maximum, as u32', async () => {
  // Ties: columns 0 and 2 of row 0 hold the maximum 5; the first wins.
  const x = [5, 1, 5, 2, 0, 3, 9, 3];
  const got = scope(() => argmax(Tensor.from(x, [2, 4]), 1));
  expect(got.dtype).toBe('u32');
  expect(Array.from(await got.read())).toEqual([0, 2]);
  got.dispose();
  const y = randn(3 * 5 * 4, 7);
  const along0 = await scope(() => argmax(Tensor.from(y, [3, 5, 4]), 0)).read();
  expect(Array.from(along0)).toEqual(reduceRef(y, [3, 5, 4], 0, 'max').argmax);
});

test('sumAll is a scalar of every element', async () => {
  const x = randn(3 * 7 * 11, 8);
  const t = scope(() => sumAll(Tensor.from(x, [3, 7, 11])));
  expect(t.shape).toEqual([]);
  expectClose(await t.read(), [x.reduce((a, v) => a + Math.fround(v), 0)], { atol: 1e-4, rtol: 1e-5 }, 'sumAll');
  t.dispose();
});

test('bad axes are errors naming the op', () => {
  expect(() => scope(() => sum(Tensor.from([1, 2], [2]), 1))).toThrow(/sum: axis 1 out of range for rank 1/);
  expect(() => scope(() => max(Tensor.from([1, 2], [2]), -2))).toThrow(/max: axis -2 out of range/);
});

/** Random values with NaN, ±Inf and finite edge cases planted at random positions. */
function planted(n: number, seed: number, bad: number): Float32Array {
  const x = Float32Array.from(randn(n, seed));
  const r = rng(seed + 1);
  const specials = [NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0, 1.17e-38];
  for (let k = 0; k < bad; k++) x[Math.floor(r() * n)] = specials[k % specials.length]!;
  return x;
}

test('counts the NaN and ±Inf elements of each tensor, as the CPU reference does', async () => {
  const arrays = [planted(1, 1, 1), planted(255, 2, 3), planted(4096, 3, 40), planted(4097, 4, 17), planted(70_000, 5, 500), planted(333, 6, 0)];
  arrays.push(new Float32Array([NaN, NaN, NaN]));
  const tensors = arrays.map((a) => Tensor.from(a, [a.length]));
  const counts = countNonFinite(tensors);
  const got = Array.from(await counts.read());
  const want = countNonFiniteRef(arrays);
  expect(want.some((c) => c > 0)).toBe(true);
  expect(want[5]).toBe(0);
  expect(got).toEqual(want);
  for (const t of [...tensors, counts]) t.dispose();
});

test('a slice counts only its own range, and an empty tensor counts 0', async () => {
  const data = new Float32Array(1024).fill(NaN);
  data.fill(1, 128, 288);
  data[200] = Infinity;
  const base = Tensor.from(data, [1024]);
  const mid = base.slice(128, [160]); // binds 256 bytes more than its 160 values, all NaN
  const empty = Tensor.from([], [0]);
  const counts = countNonFinite([mid, empty, base]);
  expect(Array.from(await counts.read())).toEqual([1, 0, countNonFiniteRef([data])[0]]);
  for (const t of [mid, empty, base, counts]) t.dispose();
});

test('refuses non-f32 tensors and an empty list', () => {
  const ints = Tensor.from([1, 2], [2], 'i32');
  expect(() => countNonFinite([ints])).toThrow(/expected a f32 tensor/);
  expect(() => countNonFinite([])).toThrow(/no tensors/);
  ints.dispose();
});
