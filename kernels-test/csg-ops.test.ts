// CSG ops against float64 CPU references (forward and, by central differences in float64, backward)
// and against finite differences through the GPU (gradCheck).
import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { l2Normalize, patchGrid, aPool, patchAvgPool, globalAvgPoolVectors, infoNce, infoNceWithRanks, rankAccuracy, mul, sumAll, nceVariants, setNceVariant } from '../src/ops/index.js';
import { useGpu, randn, uniform, expectClose, gradCheck } from './helpers.js';
import { l2NormalizeRef, patchGridRef, poolPiecesRef, infoNceRef, numericGradient, dotWith, type MapShape } from './ref/csg.js';

useGpu();

/** GPU gradient of Σ f(x)·w with respect to x (one input). */
async function gpuGrad(f: (x: Tensor) => Tensor, x: ArrayLike<number>, shape: number[], w: ArrayLike<number>, outShape: number[]): Promise<Float32Array> {
  return scopeAsync(async () => {
    const xt = Tensor.from(x, shape);
    xt.requiresGrad = true;
    backward(sumAll(mul(f(xt), Tensor.from(w, outShape))));
    return (await xt.grad!.read()) as Float32Array;
  });
}

describe('l2Normalize', () => {
  test('forward and backward against float64, and finite differences', async () => {
    const [n, d] = [7, 13];
    const x = randn(n * d, 1);
    x.fill(0, 13, 26); // an all-zero row: the norm clamps to eps
    const got = await scope(() => l2Normalize(Tensor.from(x, [n, d]))).read();
    expectClose(got, l2NormalizeRef(x, n, d), { atol: 1e-6, rtol: 1e-5 }, 'l2Normalize');
    const w = randn(n * d, 2);
    const ref = numericGradient((xs) => dotWith(l2NormalizeRef(xs, n, d), w), x);
    const grad = await gpuGrad((t) => l2Normalize(t), x, [n, d], w, [n, d]);
    // The zero row's gradient is g / eps (huge): compare the other rows.
    expectClose([...grad.slice(0, 13), ...grad.slice(26)], [...ref.slice(0, 13), ...ref.slice(26)], { atol: 1e-4, rtol: 1e-3 }, 'l2Normalize gradient');
    await gradCheck((t) => l2Normalize(t), [{ data: randn(5 * 6, 3), shape: [5, 6] }], { eps: 1e-3 });
  });
  test('bad input', () => {
    expect(() => scope(() => l2Normalize(Tensor.from([1, 2, 3], [3])))).toThrow(/rows \[N, D\]/);
  });
});

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

function unitRows(n: number, d: number, seed: number): Float64Array {
  return l2NormalizeRef(randn(n * d, seed), n, d);
}
function unitColumns(d: number, k: number, seed: number): Float64Array {
  const rows = unitRows(k, d, seed); // [K, D] → [D, K]
  const out = new Float64Array(d * k);
  for (let j = 0; j < k; j++) for (let i = 0; i < d; i++) out[i * k + j] = rows[j * d + i]!;
  return out;
}

describe('infoNce', () => {
  // K not a multiple of the 32-column block, N not a multiple of the 8-query tile, odd D; the last
  // case has two query super-tiles and three queue windows of the window kernel, and vectors of norm 2
  // (logits up to ±57) so that its running maxima grow and rescale across windows.
  const cases = [
    [5, 8, 36, 1],
    [19, 12, 100, 1],
    [40, 16, 1000, 1],
    [3, 128, 2048, 1],
    [136, 128, 300, 2],
  ] as const;
  for (const variant of ['window', 'stream'] as const) for (const [n, d, k, norm] of cases) {
    test(`${variant}: N ${n}, D ${d}, K ${k}, norm ${norm}: loss, ranks, accuracy and gradient against float64`, async () => {
      setNceVariant(variant);
      if (!nceVariants().includes(variant)) {
        // Adapters without subgroups of 8 refuse the window kernel by name.
        expect(() => scope(() => infoNce(Tensor.from(new Float32Array(n * d), [n, d]), Tensor.from(new Float32Array(n * d), [n, d]), Tensor.from(new Float32Array(d * k), [d, k])))).toThrow(/window kernel/);
        setNceVariant(null);
        return;
      }
      const q = unitRows(n, d, 20 + n).map((v) => v * norm);
      const kp = unitRows(n, d, 21 + n);
      // Pull some positives towards their queries so ranks vary.
      for (let i = 0; i < n; i += 2) for (let j = 0; j < d; j++) kp[i * d + j] = q[i * d + j]! + 0.3 * kp[i * d + j]!;
      const queue = unitColumns(d, k, 22 + n).map((v) => v * norm);
      const ref = infoNceRef(q, kp, queue, n, d, k, 0.07);
      const { loss, ranks, grad, acc } = await scopeAsync(async () => {
        const qt = Tensor.from(q, [n, d]);
        qt.requiresGrad = true;
        const out = infoNceWithRanks(qt, Tensor.from(kp, [n, d]), Tensor.from(queue, [d, k]), 0.07);
        const lossValue = await out.loss.item();
        backward(out.loss);
        return { loss: lossValue, ranks: await out.ranks.read(), grad: await qt.grad!.read(), acc: await rankAccuracy(out.ranks).read() };
      });
      expectClose([loss], [ref.loss], { atol: 1e-5, rtol: 1e-5 }, 'loss');
      expect(Array.from(ranks)).toEqual(ref.ranks);
      const top1 = ref.ranks.filter((r) => r === 0).length / n;
      const top5 = ref.ranks.filter((r) => r < 5).length / n;
      expectClose(acc, [top1, top5], { atol: 1e-6, rtol: 0 }, 'accuracy');
      expectClose(grad, ref.dq, { atol: 2e-5, rtol: 1e-3 }, 'dq');
      setNceVariant(null);
    });
  }
  test('no-grad forward matches; k and the queue take no gradient; finite differences', async () => {
    const [n, d, k] = [6, 8, 40];
    const q = unitRows(n, d, 30);
    const kp = unitRows(n, d, 31);
    const queue = unitColumns(d, k, 32);
    const plain = await scope(() => infoNce(Tensor.from(q, [n, d]), Tensor.from(kp, [n, d]), Tensor.from(queue, [d, k]))).item();
    expectClose([plain], [infoNceRef(q, kp, queue, n, d, k, 0.07).loss], { atol: 1e-5, rtol: 1e-5 });
    await scopeAsync(async () => {
      const [qt, kt, qu] = [Tensor.from(q, [n, d]), Tensor.from(kp, [n, d]), Tensor.from(queue, [d, k])];
      for (const t of [qt, kt, qu]) t.requiresGrad = true;
      backward(infoNce(qt, kt, qu));
      expect(qt.grad).not.toBeNull();
      expect(kt.grad).toBeNull();
      expect(qu.grad).toBeNull();
      qt.grad!.dispose();
    });
    const queueT = Tensor.from(queue, [d, k]).keep();
    const kT = Tensor.from(kp, [n, d]).keep();
    await gradCheck((x) => infoNce(x, kT, queueT, 0.5), [{ data: q, shape: [n, d] }], { eps: 1e-3 });
    queueT.dispose();
    kT.dispose();
  });
  test('bad input', () => {
    const q = () => Tensor.from(new Float32Array(8), [2, 4]);
    expect(() => scope(() => infoNce(q(), q(), Tensor.from(new Float32Array(4 * 6), [4, 6])))).toThrow(/multiple of 4/);
    expect(() => scope(() => infoNce(q(), q(), Tensor.from(new Float32Array(3 * 8), [3, 8])))).toThrow(/must be \[D = 4, K\]/);
    expect(() => scope(() => infoNce(q(), Tensor.from(new Float32Array(12), [3, 4]), Tensor.from(new Float32Array(32), [4, 8])))).toThrow(/must both be \[N, D\]/);
  });
});
