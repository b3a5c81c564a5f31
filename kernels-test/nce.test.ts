// InfoNCE, its ranks and the ranking accuracy (src/ops/nce.ts), all three passes, against a float64 CPU
// reference, and by finite differences through the GPU.
import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { infoNce, infoNceWithRanks, rankAccuracy, nceVariants, setNceVariant } from '../src/ops/index.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';
import { infoNceRef } from './ref/nce.js';
import { l2NormalizeRef } from './ref/norm.js';

useGpu();

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
  for (const variant of ['gemm', 'window', 'stream'] as const) for (const [n, d, k, norm] of cases) {
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
