import { Tensor, scope, sizeOf as size } from '../src/tensor/index.js';
import { interpolateBilinear } from '../src/ops/index.js';
import { outputAndGrad } from './layer-helpers.js';
import { useGpu, randn, expectClose, gradCheck, type NCHW } from './helpers.js';
import { bilinearRef } from './ref/resize.js';

useGpu();

// DeepLab's uses scaled down (logits ×8 up, image pooling branch 1×1 → map), odd sizes, downsampling.
const cases: [NCHW, [number, number]][] = [
  [[2, 3, 4, 4], [32, 32]],
  [[1, 2, 5, 7], [13, 4]],
  [[1, 3, 1, 1], [6, 5]],
  [[2, 2, 17, 13], [5, 6]],
  [[1, 2, 9, 9], [9, 9]],
  [[1, 1, 6, 4], [1, 1]],
  [[1, 2, 3, 8], [7, 1]],
];

describe('interpolateBilinear against the float64 reference', () => {
  for (const alignCorners of [false, true]) {
    for (const [shape, [outH, outW]] of cases) {
      test(`${JSON.stringify(shape)} → ${outH}×${outW} align_corners=${alignCorners}: forward and gather backward`, async () => {
        const x = randn(size(shape), 51);
        const dy = randn(shape[0] * shape[1] * outH * outW, 52);
        const got = await outputAndGrad((t) => interpolateBilinear(t, [outH, outW], alignCorners), x, shape, dy);
        expect(got.outShape).toEqual([shape[0], shape[1], outH, outW]);
        const ref = bilinearRef(x, shape, outH, outW, alignCorners, dy);
        expectClose(got.out, ref.out, { atol: 1e-5, rtol: 1e-4 }, 'output');
        expectClose(got.dx, ref.dx, { atol: 1e-4, rtol: 1e-4 }, 'grad x');
      });
    }
  }
});

describe('interpolateBilinear gradient by finite differences', () => {
  for (const alignCorners of [false, true]) {
    test(`5×7 → 13×4 and 6×5 → 3×8, align_corners=${alignCorners}`, async () => {
      await gradCheck((x) => interpolateBilinear(x, [13, 4], alignCorners), [{ data: randn(2 * 5 * 7, 53), shape: [1, 2, 5, 7] }]);
      await gradCheck((x) => interpolateBilinear(x, [3, 8], alignCorners), [{ data: randn(6 * 5, 54), shape: [1, 1, 6, 5] }]);
    });
  }
});

describe('interpolateBilinear bad input', () => {
  test('rank, dtype and output size', () => {
    scope(() => {
      expect(() => interpolateBilinear(Tensor.empty([3, 4]), [2, 2], false)).toThrow(/NCHW/);
      expect(() => interpolateBilinear(Tensor.empty([1, 1, 3, 4], 'i32'), [2, 2], false)).toThrow(/expected a f32/);
      expect(() => interpolateBilinear(Tensor.empty([1, 1, 3, 4]), [0, 2], true)).toThrow(/positive integers/);
      expect(() => interpolateBilinear(Tensor.empty([1, 1, 3, 4]), [2.5, 2], true)).toThrow(/positive integers/);
    });
  });
});
