import { Tensor, scope, sizeOf as size } from '../src/tensor/index.js';
import { maxPool2d, globalAvgPool } from '../src/ops/index.js';
import { outputAndGrad } from './layer-helpers.js';
import { useGpu, rng, randn, expectClose, gradCheck, type NCHW } from './helpers.js';
import { maxPoolRef } from './ref/pool.js';

useGpu();

describe('maxPool2d', () => {
  const cases: [NCHW, number, number, number][] = [
    [[2, 3, 8, 8], 3, 2, 1], // ResNet stem, scaled down
    [[1, 4, 13, 11], 3, 2, 1], // odd sizes
    [[2, 2, 7, 9], 2, 2, 0],
    [[1, 3, 6, 5], 3, 1, 1],
    [[1, 2, 17, 15], 5, 3, 2],
  ];
  for (const [shape, kernel, stride, padding] of cases) {
    test(`${JSON.stringify(shape)} k${kernel} s${stride} p${padding}: forward and gather backward against the reference`, async () => {
      const x = Float32Array.from(randn(size(shape), 31)); // exact in f32, so max pooling matches exactly
      const got = await outputAndGrad((t) => maxPool2d(t, { kernel, stride, padding }), x, shape, (n) => randn(n, 32));
      const ref = maxPoolRef(x, shape, kernel, stride, padding, randn(got.out.length, 32));
      expect(got.outShape).toEqual(ref.outShape);
      expectClose(got.out, ref.out, { atol: 0, rtol: 0 }, 'output');
      expectClose(got.dx, ref.dx, { atol: 1e-6, rtol: 1e-6 }, 'grad x');
    });
  }

  test('ties go to the first maximum in scan order; an all-negative window ignores padding', async () => {
    const x = [-5, -5, -5, -5, -5, -5, -5, -5, -5];
    const got = await outputAndGrad((t) => maxPool2d(t), x, [1, 1, 3, 3], (n) => new Array(n).fill(1));
    expectClose(got.out, [-5, -5, -5, -5], { atol: 0, rtol: 0 }, 'output');
    // Windows start at (0,0),(0,1),(1,0),(1,1) after clipping the padding: each picks its first element.
    expectClose(got.dx, [1, 1, 0, 1, 1, 0, 0, 0, 0], { atol: 0, rtol: 0 }, 'grad x');
  });

  test('gradient by finite differences', async () => {
    // Distinct, well-separated values so a small step never changes the arg-max.
    const n = 2 * 2 * 7 * 6;
    const r = rng(33);
    const data = Array.from({ length: n }, (_, i) => i * 0.1);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [data[i], data[j]] = [data[j]!, data[i]!];
    }
    await gradCheck((x) => maxPool2d(x), [{ data, shape: [2, 2, 7, 6] }], { eps: 1e-3, maxPoints: 40 });
  });

  test('bad input', () => {
    scope(() => {
      expect(() => maxPool2d(Tensor.empty([4, 4]))).toThrow(/NCHW/);
      expect(() => maxPool2d(Tensor.empty([1, 1, 4, 4], 'i32'))).toThrow(/expected a f32/);
      expect(() => maxPool2d(Tensor.empty([1, 1, 4, 4]), { kernel: 3, padding: 2 })).toThrow(/at most half the kernel/);
      expect(() => maxPool2d(Tensor.empty([1, 1, 2, 2]), { kernel: 5, padding: 1 })).toThrow(/smaller than the 5×5 window/);
      expect(() => maxPool2d(Tensor.empty([1, 1, 4, 4]), { stride: 0 })).toThrow(/stride must be an integer/);
    });
  });
});

describe('globalAvgPool', () => {
  for (const shape of [[2, 5, 7, 9], [1, 3, 33, 17], [2, 4, 1, 1]] as NCHW[]) {
    test(`${JSON.stringify(shape)}: forward and gradient against the reference`, async () => {
      const x = randn(size(shape), 41);
      const [n, c, h, w] = shape;
      const dyData = randn(n * c, 42);
      const got = await outputAndGrad(globalAvgPool, x, shape, () => dyData);
      expect(got.outShape).toEqual([n, c, 1, 1]);
      const expected = Array.from({ length: n * c }, (_, p) => x.slice(p * h * w, (p + 1) * h * w).reduce((s, v) => s + v, 0) / (h * w));
      expectClose(got.out, expected, { atol: 1e-6, rtol: 1e-5 }, 'output');
      expectClose(got.dx, Array.from(got.dx, (_, i) => dyData[Math.floor(i / (h * w))]! / (h * w)), { atol: 1e-7, rtol: 1e-5 }, 'grad x');
    });
  }
  test('gradient by finite differences', async () => {
    await gradCheck(globalAvgPool, [{ data: randn(2 * 3 * 5 * 4, 43), shape: [2, 3, 5, 4] }]);
  });
});
