import { readFileSync } from 'node:fs';
import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { matmul, linear, softmax, logSoftmax, setMatmulVariant, matmulVariants, mul, sumAll, type MatmulVariant } from '../src/ops/index.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';
import { matmulRef, linearRef } from './ref/matmul.js';

useGpu();
afterEach(() => setMatmulVariant(null));

const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);
/** Stored shape of an operand whose op() is rows × cols. */
const stored = (batch: number | null, rows: number, cols: number, trans: boolean): number[] => {
  const mat = trans ? [cols, rows] : [rows, cols];
  return batch === null ? mat : [batch, ...mat];
};

// K up to ~600 in f32: error grows like √K · 6e-8 · |terms|.
const TOL = { atol: 2e-4, rtol: 1e-4 };

async function checkForward(sa: number[], sb: number[], transA: boolean, transB: boolean, seed: number): Promise<void> {
  const a = randn(size(sa), seed);
  const b = randn(size(sb), seed + 1);
  const got = await scope(() => matmul(Tensor.from(a, sa), Tensor.from(b, sb), { transA, transB })).read();
  expectClose(got, matmulRef(a, sa, b, sb, transA, transB), TOL, `matmul ${JSON.stringify(sa)}·${JSON.stringify(sb)} tA=${transA} tB=${transB}`);
}

const combos: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
// [M, K, N]: trivial, odd sizes that divide no tile, exact tiles, K over one 512-row uniform slice.
const mkn: [number, number, number][] = [
  [1, 1, 1],
  [37, 19, 53],
  [65, 130, 7],
  [64, 32, 64],
  [9, 600, 40],
];

describe('matmul forward against float64', () => {
  test.each(['igemm', 'subgroup', 'register', 'tiled'] as MatmulVariant[])('%s kernel, all transposes, odd shapes', async (variant) => {
    if (!matmulVariants().includes(variant)) return; // no subgroup kernel on this adapter
    setMatmulVariant(variant);
    let seed = 10;
    for (const [m, k, n] of mkn) {
      for (const [tA, tB] of combos) await checkForward(stored(null, m, k, tA), stored(null, k, n, tB), tA, tB, seed++);
    }
  });

  test.each(['igemm', 'subgroup', 'register', 'tiled'] as MatmulVariant[])('%s kernel, batched and batch-broadcast operands', async (variant) => {
    if (!matmulVariants().includes(variant)) return;
    setMatmulVariant(variant);
    let seed = 50;
    for (const [tA, tB] of combos) {
      await checkForward(stored(3, 5, 7, tA), stored(3, 7, 9, tB), tA, tB, seed++);
      await checkForward(stored(3, 5, 7, tA), stored(null, 7, 9, tB), tA, tB, seed++);
      await checkForward(stored(null, 5, 7, tA), stored(3, 7, 9, tB), tA, tB, seed++);
    }
  });
});

test('automatic kernel choice: few rows, many columns of a [N, K] B (igemm with 8-lane subgroups; on the subgroup kernel with 16 lanes, swapped to Cᵀ = B·Aᵀ)', async () => {
  // M < 128 ≤ 512 ≤ N with transB: the nn.Linear shape of the CSG heads; K not a multiple of 32.
  await checkForward(stored(null, 37, 70, false), stored(null, 70, 600, true), false, true, 90);
  await checkForward(stored(null, 64, 300, false), stored(null, 300, 520, true), false, true, 91);
});

describe('matmul backward', () => {
  // L = Σ C ∘ W  ⇒  d op(A) = W·op(B)ᵀ and d op(B) = op(A)ᵀ·W, checked against float64.
  test.each(combos)('gradients against float64, transA=%s transB=%s, batch-broadcast B', async (tA, tB) => {
    const [bt, m, k, n] = [2, 13, 11, 6];
    const sa = stored(bt, m, k, tA);
    const sb = stored(null, k, n, tB);
    const a = randn(size(sa), 1);
    const b = randn(size(sb), 2);
    const w = randn(bt * m * n, 3);
    const [ga, gb] = await scopeAsync(async () => {
      const ta = Tensor.from(a, sa);
      const tb = Tensor.from(b, sb);
      ta.requiresGrad = tb.requiresGrad = true;
      backward(sumAll(mul(matmul(ta, tb, { transA: tA, transB: tB }), Tensor.from(w, [bt, m, n]))));
      return [await ta.grad!.read(), await tb.grad!.read()];
    });
    // d op(A) = W·op(B)ᵀ has op(A)'s shape; transpose it back when A is stored transposed.
    const opB = stored(null, k, n, tB);
    const dOpA = tA ? matmulRef(b, opB, w, [bt, m, n], tB, true) : matmulRef(w, [bt, m, n], b, opB, false, !tB);
    expectClose(ga!, dOpA, TOL, 'dA');
    // B is shared by the batch: its gradient sums the batch entries.
    const perBatch = tB ? matmulRef(w, [bt, m, n], a, sa, true, tA) : matmulRef(a, sa, w, [bt, m, n], !tA, false);
    const dB = new Float64Array(k * n);
    for (let i = 0; i < perBatch.length; i++) dB[i % (k * n)] += perBatch[i]!;
    expectClose(gb!, dB, TOL, 'dB');
  });

  test.each(combos)('finite differences, transA=%s transB=%s', async (tA, tB) => {
    await gradCheck((x, y) => matmul(x, y, { transA: tA, transB: tB }), [
      { data: randn(15, 4), shape: stored(null, 3, 5, tA) },
      { data: randn(20, 5), shape: stored(null, 5, 4, tB) },
    ]);
  });

  test('finite differences, batched with a shared A', async () => {
    await gradCheck((x, y) => matmul(x, y), [
      { data: randn(6, 6), shape: [2, 3] },
      { data: randn(24, 7), shape: [4, 3, 2] },
    ]);
  });
});

describe('linear', () => {
  test('forward and gradients against float64 (PyTorch nn.Linear semantics)', async () => {
    const [n, inF, outF] = [7, 10, 5];
    const x = randn(n * inF, 1);
    const w = randn(outF * inF, 2);
    const b = randn(outF, 3);
    const g = randn(n * outF, 4);
    const [y, gx, gw, gb] = await scopeAsync(async () => {
      const tx = Tensor.from(x, [n, inF]);
      const tw = Tensor.from(w, [outF, inF]);
      const tb = Tensor.from(b, [outF]);
      tx.requiresGrad = tw.requiresGrad = tb.requiresGrad = true;
      const out = linear(tx, tw, tb);
      backward(sumAll(mul(out, Tensor.from(g, [n, outF]))));
      return [await out.read(), await tx.grad!.read(), await tw.grad!.read(), await tb.grad!.read()];
    });
    expectClose(y!, linearRef(x, n, inF, w, outF, b), TOL, 'y');
    expectClose(gx!, matmulRef(g, [n, outF], w, [outF, inF]), TOL, 'dx');
    expectClose(gw!, matmulRef(g, [n, outF], x, [n, inF], true), TOL, 'dW');
    const db = new Float64Array(outF);
    for (let i = 0; i < n * outF; i++) db[i % outF] += g[i]!;
    expectClose(gb!, db, TOL, 'db');
  });

  test('without bias, and finite differences', async () => {
    const x = randn(12, 5);
    const w = randn(8, 6);
    const got = await scope(() => linear(Tensor.from(x, [3, 4]), Tensor.from(w, [2, 4]), null)).read();
    expectClose(got, linearRef(x, 3, 4, w, 2, null), TOL, 'y');
    await gradCheck((a, wt, bias) => linear(a, wt, bias), [
      { data: x, shape: [3, 4] },
      { data: w, shape: [2, 4] },
      { data: randn(2, 7), shape: [2] },
    ]);
  });
});

describe('bad input', () => {
  const t = (shape: number[]) => Tensor.from(new Float32Array(size(shape)), shape);
  test('inner dimensions that differ', () => {
    expect(() => scope(() => matmul(t([2, 3]), t([4, 5])))).toThrow(/inner dimensions differ: \[2, 3\] has K = 3, \[4, 5\] has K = 4/);
    expect(() => scope(() => matmul(t([2, 3]), t([5, 3]), { transA: true, transB: true }))).toThrow(/inner dimensions differ/);
  });
  test('ranks other than 2 or 3, batches that differ', () => {
    expect(() => scope(() => matmul(t([3]), t([3, 2])))).toThrow(/operands must be \[M, K\] or batched/);
    expect(() => scope(() => matmul(t([1, 2, 3, 4]), t([4, 2])))).toThrow(/operands must be/);
    expect(() => scope(() => matmul(t([2, 3, 4]), t([3, 4, 2])))).toThrow(/batch sizes differ/);
  });
  test('an unknown matmul kernel', () => {
    expect(() => setMatmulVariant('fast' as MatmulVariant)).toThrow(/unknown matmul kernel 'fast', expected one of igemm, subgroup, register, tiled/);
  });
  test('linear with mismatched weight or bias', () => {
    expect(() => scope(() => linear(t([2, 3]), t([4, 5]), null))).toThrow(/x \[2, 3\] has 3 features, weight \[4, 5\] expects 5/);
    expect(() => scope(() => linear(t([2, 3]), t([4, 3]), t([3])))).toThrow(/bias \[3\] does not match/);
  });
});

describe('PyTorch fixture (kernels-test/fixtures/make_matmul_softmax.py)', () => {
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/matmul_softmax.json', import.meta.url), 'utf8'));
  const FIXTURE_TOL = { atol: 1e-5, rtol: 1e-4 };

  test('linear → softmax, values and gradients', async () => {
    const f = fixture.linear_softmax;
    const [probs, gx, gw, gb] = await scopeAsync(async () => {
      const x = Tensor.from(f.x, f.x_shape);
      const w = Tensor.from(f.weight, f.weight_shape);
      const b = Tensor.from(f.bias, [f.weight_shape[0]]);
      x.requiresGrad = w.requiresGrad = b.requiresGrad = true;
      const p = softmax(linear(x, w, b));
      backward(sumAll(mul(p, Tensor.from(f.w, p.shape))));
      return [await p.read(), await x.grad!.read(), await w.grad!.read(), await b.grad!.read()];
    });
    expectClose(probs!, f.probs, FIXTURE_TOL, 'softmax(linear)');
    expectClose(gx!, f.grad_x, FIXTURE_TOL, 'dx');
    expectClose(gw!, f.grad_weight, FIXTURE_TOL, 'dW');
    expectClose(gb!, f.grad_bias, FIXTURE_TOL, 'db');
  });

  test('batched matmul with both transposes → log_softmax(axis 1), values and gradients', async () => {
    const f = fixture.bmm_log_softmax;
    const [logp, ga, gb] = await scopeAsync(async () => {
      const a = Tensor.from(f.a, f.a_shape);
      const b = Tensor.from(f.b, f.b_shape);
      a.requiresGrad = b.requiresGrad = true;
      const out = logSoftmax(matmul(a, b, { transA: true, transB: true }), 1);
      backward(sumAll(mul(out, Tensor.from(f.v, f.logp_shape))));
      return [await out.read(), await a.grad!.read(), await b.grad!.read()];
    });
    expectClose(logp!, f.logp, FIXTURE_TOL, 'log_softmax(bmm)');
    expectClose(ga!, f.grad_a, FIXTURE_TOL, 'da');
    expectClose(gb!, f.grad_b, FIXTURE_TOL, 'db');
  });
});
