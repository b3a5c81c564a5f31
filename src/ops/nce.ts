// InfoNCE against a key queue (recipe §2) with the rank of each positive, and the ranking accuracy.
// Three passes compute the same rows: the portable streaming pass (shaders/nce.wgsl, here), the window
// pass (shaders/nce_subgroup.wgsl, src/ops/nce-window.ts), and the GEMM form (here): the logits and
// the expectation as two products on the matmul kernels, with the softmax bookkeeping between them
// (nce.wgsl) — lavapipe's fastest, where the matmul runs on the conv kernels' register tiles.
// WGSL: shaders/nce.wgsl, shaders/nce_subgroup.wgsl · reference: kernels-test/ref/nce.ts · test: kernels-test/nce.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr, roundUp } from '../tensor/index.js';
import { mean } from './reduce.js';
import { launchMatmul, matmulVariant } from './matmul.js';
import { nceRowsWindow, WINDOW_MAX_DP, type NceRows } from './nce-window.js';

export type { NceRows };

// InfoNCE: logits [q·k, q·queue_1..K] / τ, cross-entropy to index 0, mean over the N queries.

/** Queries per workgroup in the streaming pass (a register tile). */
const NCE_ROWS = 8;
/** Workgroups the streaming pass aims for (splitting the queue when queries are few). */
const NCE_TARGET_WORKGROUPS = 48;

function nceKernel(entry: string, dim: number, withGrad: boolean) {
  return { family: 'nce', entry, defines: { D: dim, R: NCE_ROWS, ACC: withGrad ? 'true' : 'false' } };
}

export type NceVariant = 'gemm' | 'window' | 'stream';
let forcedNceVariant: NceVariant | null = null;

/** Forces the InfoNCE kernel (tests, benchmarks); null restores the automatic choice. */
export function setNceVariant(v: NceVariant | null): void {
  forcedNceVariant = v;
}

/**
 * 'gemm' (two products on the matmul kernels, the [N, K] logits stored) is lavapipe's fast form where
 * the matmul runs on the conv register tiles (one dispatch per product; 'window' makes one per 64 KiB
 * window of the queue); 'window' (nce_subgroup.wgsl, every operand through 64 KiB uniform windows)
 * needs subgroups of 8 on a CPU adapter; 'stream' (nce.wgsl, the logits never stored) elsewhere.
 */
export function nceVariant(dim: number): NceVariant {
  const windowOk = nceVariants().includes('window') && roundUp(dim, 32) <= WINDOW_MAX_DP;
  if (forcedNceVariant === 'window' && !windowOk) throw new TensorError(`infoNce: the window kernel needs subgroups of 8 and D ≤ ${WINDOW_MAX_DP}`);
  if (forcedNceVariant) return forcedNceVariant;
  if (!gpu().adapter.isFallback) return 'stream';
  return matmulVariant() === 'igemm' ? 'gemm' : windowOk ? 'window' : 'stream';
}

/** The InfoNCE kernels that run on this adapter. */
export function nceVariants(): NceVariant[] {
  const g = gpu();
  return g.hasSubgroups && g.adapter.subgroupSize === 8 ? ['gemm', 'window', 'stream'] : ['gemm', 'stream'];
}

// q [N, D], k [N, D], queue [D, K] → rowLoss [N], ranks u32 [N], expect [N, D] | null
/** The streaming pass (no tape): one read of the queue gives the losses, the ranks and (withGrad) E[kv]. */
export function nceRows(q: Tensor, k: Tensor, queue: Tensor, tau: number, withGrad: boolean): NceRows {
  for (const t of [q, k, queue]) assertDtype(t, 'f32', 'infoNce');
  if (q.rank !== 2 || k.rank !== 2 || q.shape[0] !== k.shape[0] || q.shape[1] !== k.shape[1]) {
    throw new TensorError(`infoNce: q ${shapeStr(q.shape)} and k ${shapeStr(k.shape)} must both be [N, D]`);
  }
  const [n, dim] = q.shape as [number, number];
  if (queue.rank !== 2 || queue.shape[0] !== dim) throw new TensorError(`infoNce: queue ${shapeStr(queue.shape)} must be [D = ${dim}, K]`);
  const keys = queue.shape[1]!;
  if (keys < 4 || keys % 4 !== 0) throw new TensorError(`infoNce: the queue length K = ${keys} must be a positive multiple of 4`);
  if (n === 0) throw new TensorError('infoNce: no queries');
  if (!(tau > 0)) throw new TensorError(`infoNce: tau must be positive, got ${tau}`);
  const variant = nceVariant(dim);
  if (variant === 'gemm') return nceRowsGemm(q, k, queue, tau, withGrad);
  return variant === 'window' ? nceRowsWindow(q, k, queue, tau, withGrad) : nceRowsStream(q, k, queue, tau, withGrad);
}

/**
 * The GEMM form: l = q·queue [N, K] as one product, each row's loss and rank (nce_logit_rows), then
 * for the gradient the logits become softmax weights p in place and E[kv] = p·queueᵀ + p_0·k.
 * Holds the [N, K] products for the length of the call (N·K·4 bytes: 32 MiB at N = 128, K = 65536).
 */
function nceRowsGemm(q: Tensor, k: Tensor, queue: Tensor, tau: number, withGrad: boolean): NceRows {
  const [n, dim] = q.shape as [number, number];
  const keys = queue.shape[1]!;
  const params = { n, keys, keysPerSplit: 0, parts: 0, invTau: 1 / tau, gradScale: 0 };
  const logits = launchMatmul(q, queue, false, false, 'infoNce');
  const rowStats = Tensor.empty([n * 3]);
  const rowLoss = Tensor.empty([n]);
  const ranks = Tensor.empty([n], 'u32');
  const stats = { logits: logits.binding, partial: rowStats.binding };
  gpu().run(nceKernel('nce_logit_rows', dim, false), { ...stats, q: q.binding, kpos: k.binding, rowLoss: rowLoss.binding, rank: ranks.binding }, params, grid(n));
  let expect: Tensor | null = null;
  if (withGrad) {
    gpu().run(nceKernel('nce_logit_weights', dim, false), stats, params, grid(Math.ceil((n * keys) / 4 / 64)));
    expect = launchMatmul(logits, queue, false, true, 'infoNce');
    gpu().run(nceKernel('nce_add_positive', dim, false), { kpos: k.binding, partial: rowStats.binding, expect: expect.binding }, params, grid(Math.ceil((n * dim) / 64)));
  }
  [logits, rowStats].forEach((t) => t.dispose());
  return { rowLoss, ranks, expect };
}

/** The portable streaming pass (nce.wgsl): queue and queries read from storage. */
function nceRowsStream(q: Tensor, k: Tensor, queue: Tensor, tau: number, withGrad: boolean): NceRows {
  const [n, dim] = q.shape as [number, number];
  const keys = queue.shape[1]!;
  const tiles = Math.ceil(n / NCE_ROWS);
  const blocks = Math.ceil(keys / 32);
  const splits = Math.min(blocks, Math.max(1, Math.ceil(NCE_TARGET_WORKGROUPS / tiles)));
  const keysPerSplit = Math.ceil(blocks / splits) * 32;
  const splitsUsed = Math.ceil(keys / keysPerSplit);
  const parts = splitsUsed * 8;
  const params = { n, keys, keysPerSplit, parts, invTau: 1 / tau, gradScale: 0 };
  const partial = Tensor.empty([parts, n, dim + 3]);
  gpu().run(nceKernel('nce_partial', dim, withGrad), { q: q.binding, kpos: k.binding, queue: queue.binding, partial: partial.binding }, params, [tiles, splitsUsed]);
  const rowLoss = Tensor.empty([n]);
  const ranks = Tensor.empty([n], 'u32');
  const expect = withGrad ? Tensor.empty([n, dim]) : null;
  const unusedExpect = expect ? null : Tensor.empty([1]);
  gpu().run(
    nceKernel('nce_combine', dim, withGrad),
    { q: q.binding, kpos: k.binding, partial: partial.binding, rowLoss: rowLoss.binding, rank: ranks.binding, expect: (expect ?? unusedExpect!).binding },
    params,
    grid(Math.ceil(n / 64)),
  );
  partial.dispose();
  unusedExpect?.dispose();
  return { rowLoss, ranks, expect };
}

interface NceAttrs {
  tau: number;
  /** The forward leaves the ranks here (a second output the tape does not track). */
  sink: { ranks?: Tensor };
}

const infoNceOp = defineOp<NceAttrs>({
  name: 'infoNce',
  reads: { inputs: [1], out: false },
  forward: ([q, k, queue], { tau, sink }) => {
    const { rowLoss, ranks, expect } = nceRows(q!, k!, queue!, tau, q!.requiresGrad);
    sink.ranks = ranks;
    const out = mean(rowLoss, 0);
    rowLoss.dispose();
    return { out, saved: expect ? [expect] : [] };
  },
  backward: ({ grad, inputs: [q, k], saved: [expect], attrs: { tau } }) => {
    const [n, dim] = q!.shape as [number, number];
    const dq = Tensor.empty(q!.shape);
    gpu().run(
      nceKernel('nce_grad', dim, true),
      { kpos: k!.binding, expect: expect!.binding, grad: grad.binding, dq: dq.binding },
      { n, keys: 0, keysPerSplit: 0, parts: 0, invTau: 1 / tau, gradScale: 1 / (tau * n) },
      grid(Math.ceil((n * dim) / 64)),
    );
    return [dq, null, null];
  },
});

// q [N, D], k [N, D], queue [D, K] → loss [], ranks u32 [N]
/**
 * InfoNCE loss (scalar) of queries q [N, D] with positives k [N, D] against queue [D, K], and the rank
 * of each positive among the K + 1 candidates. Gradient to q only (k and the queue take none).
 */
export function infoNceWithRanks(q: Tensor, k: Tensor, queue: Tensor, tau = 0.07): { loss: Tensor; ranks: Tensor } {
  const sink: NceAttrs['sink'] = {};
  const loss = infoNceOp([q, k, queue], { tau, sink });
  return { loss, ranks: sink.ranks! };
}

// q [N, D], k [N, D], queue [D, K] → loss []
export function infoNce(q: Tensor, k: Tensor, queue: Tensor, tau = 0.07): Tensor {
  const { loss, ranks } = infoNceWithRanks(q, k, queue, tau);
  ranks.dispose();
  return loss;
}

// ranks u32 [N] → [2] (top-1, top-5)
/** [top-1, top-5] ranking accuracy (fractions) from the ranks of infoNceWithRanks. */
export function rankAccuracy(ranks: Tensor): Tensor {
  assertDtype(ranks, 'u32', 'rankAccuracy');
  const out = Tensor.empty([2]);
  gpu().run(nceKernel('nce_accuracy', 1, false), { rank: ranks.binding, expect: out.binding }, { n: ranks.size, keys: 0, keysPerSplit: 0, parts: 0, invTau: 0, gradScale: 0 }, [1]);
  return out;
}
