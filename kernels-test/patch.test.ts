// The patch ops (src/ops/patch.ts) against float64 CPU references (forward and, by central differences
// in float64, backward) and against finite differences through the GPU (gradCheck).
import { Tensor, scope } from '../src/tensor/index.js';
import { patchGrid, aPool, patchAvgPool, globalAvgPoolVectors } from '../src/ops/index.js';
import { useGpu, randn, uniform, expectClose, gradCheck, numericGradient, dotWith, gpuGrad } from './helpers.js';
import { patchGridRef, poolPiecesRef, type MapShape } from './ref/patch.js';

useGpu();

describe('patchGrid', () => {
  test('forward puts patch (r, c) of image b at (r·g + c)·B + b; backward by finite differences', async () => {
    const shape: MapShape = { B: 2, C: 3, H: 8, W: 12 };
    const x = randn(2 * 3 * 8 * 12, 4);
    const out = scope(() => patchGrid(Tensor.from(x, [2, 3, 8, 12]), 4));
    expect(out.shape).toEqual([32, 3, 2, 3]);
    expectClose(await out.read(), Float32Array.from(patchGridRef(x, shape, 4)), { atol: 0, rtol: 0 }, "patchGrid (a permutation: exact)");
    out.dispose();
    await gradCheck((t) => patchGrid(t, 2), [{ data: randn(2 * 2 * 4 * 6, 5), shape: [2, 2, 4, 6] }]);
  });
  test('uneven cuts are refused with a pointer to the piece-pooling ops', () => {
    expect(() => scope(() => patchGrid(Tensor.from(new Float32Array(12 * 12), [1, 1, 12, 12]), 8))).toThrow(/does not cut evenly/);
  });
});

describe('A-Pool and average pooling over pieces', () => {
  // 12 = 6 pieces of 2 rows with chunks 8 (PyTorch chunk); 7 = 4 pieces of 2 + last of 1 with chunks 4.
  const cases: [MapShape, number][] = [
    [{ B: 2, C: 3, H: 8, W: 8 }, 4],
    [{ B: 2, C: 5, H: 12, W: 7 }, 8],
    [{ B: 1, C: 4, H: 7, W: 5 }, 4],
    [{ B: 3, C: 6, H: 5, W: 6 }, 1],
  ];
  for (const [shape, chunks] of cases) {
    const { B, C, H, W } = shape;
    const dims = [B, C, H, W];
    const n = B * C * H * W;
    test(`${JSON.stringify(dims)} chunks ${chunks}: forward, backward to both maps`, async () => {
      const src = uniform(n, 10, 0, 1); // post-ReLU: non-negative
      const values = uniform(n, 11, 0, 1);
      const pooled = scope(() => aPool(Tensor.from(src, dims), Tensor.from(values, dims), chunks));
      const expected = poolPiecesRef(src, values, shape, chunks);
      expect(pooled.shape).toEqual([expected.length / C, C]);
      expectClose(await pooled.read(), expected, { atol: 1e-5, rtol: 1e-4 }, 'aPool');
      const w = randn(expected.length, 12);
      const outShape = [...pooled.shape];
      pooled.dispose();
      // Gradient to the values alone (source from a no-grad pass), to the source alone, and to one shared map.
      const refValues = numericGradient((v) => dotWith(poolPiecesRef(src, v, shape, chunks), w), values);
      expectClose(await gpuGrad((v) => aPool(Tensor.from(src, dims), v, chunks), values, dims, w, outShape), refValues, { atol: 1e-5, rtol: 1e-3 }, 'aPool grad to values');
      const refSrc = numericGradient((s) => dotWith(poolPiecesRef(s, values, shape, chunks), w), src);
      expectClose(await gpuGrad((s) => aPool(s, Tensor.from(values, dims), chunks), src, dims, w, outShape), refSrc, { atol: 1e-5, rtol: 1e-3 }, 'aPool grad to source');
      const refShared = numericGradient((s) => dotWith(poolPiecesRef(s, s, shape, chunks), w), src);
      expectClose(await gpuGrad((s) => aPool(s, s, chunks), src, dims, w, outShape), refShared, { atol: 1e-5, rtol: 1e-3 }, 'aPool grad to a shared map');
    });
    test(`${JSON.stringify(dims)} chunks ${chunks}: average pooling`, async () => {
      const x = randn(n, 13);
      const expected = poolPiecesRef(null, x, shape, chunks);
      expectClose(await scope(() => patchAvgPool(Tensor.from(x, dims), chunks)).read(), expected, { atol: 1e-5, rtol: 1e-4 }, 'patchAvgPool');
      const w = randn(expected.length, 14);
      const ref = numericGradient((v) => dotWith(poolPiecesRef(null, v, shape, chunks), w), x);
      expectClose(await gpuGrad((v) => patchAvgPool(v, chunks), x, dims, w, [expected.length / C, C]), ref, { atol: 1e-5, rtol: 1e-3 }, 'patchAvgPool grad');
    });
  }
  test('finite differences through the GPU (shared map, uneven pieces)', async () => {
    await gradCheck((s) => aPool(s, s, 2), [{ data: uniform(2 * 3 * 5 * 3, 15, 0.2, 1), shape: [2, 3, 5, 3] }], { eps: 1e-3 });
  });
  test('globalAvgPoolVectors is [B, C]', async () => {
    const x = randn(2 * 3 * 4 * 5, 16);
    const out = scope(() => globalAvgPoolVectors(Tensor.from(x, [2, 3, 4, 5])));
    expect(out.shape).toEqual([2, 3]);
    expectClose(await out.read(), poolPiecesRef(null, x, { B: 2, C: 3, H: 4, W: 5 }, 1), { atol: 1e-6, rtol: 1e-5 });
    out.dispose();
  });
  test('bad input', () => {
    expect(() => scope(() => aPool(Tensor.from(new Float32Array(16), [1, 1, 4, 4]), Tensor.from(new Float32Array(32), [1, 2, 4, 4])))).toThrow(/differ in shape/);
    expect(() => scope(() => patchAvgPool(Tensor.from(new Float32Array(16), [4, 4])))).toThrow(/\[B, C, H, W\]/);
    expect(() => scope(() => patchAvgPool(Tensor.from(new Float32Array(16), [1, 1, 4, 4]), 0))).toThrow(/positive integer/);
  });
});
