// Matrix multiplication (2-D and batched, optional transposes) and nn.Linear, with gradients.
// Kernels: shaders/matmul.wgsl (pack, gemm_register, gemm_tiled), shaders/matmul_subgroup.wgsl
// (gemm_subgroup), and the conv kernels' register tiles (src/ops/conv2d.ts) for a product that is a 1×1
// convolution. Every launch packs what the chosen GEMM needs (transposes applied, sizes padded
// with zeros to its blocks) in O(M·K + K·N) work, so the O(M·N·K) loops are branch-free.
// WGSL: shaders/matmul.wgsl, shaders/matmul_subgroup.wgsl · reference: kernels-test/ref/matmul.ts · test: kernels-test/matmul.test.ts
// Just over 400 lines on purpose: the four variants share the dims, the packing and the choice between them.
import { gpu, grid, GpuError, platform } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr, roundUp } from '../tensor/index.js';
import { launchBinary } from './elementwise.js';
import { sum } from './reduce.js';
import { convGeometry, convVariant, convVariants, launchDirection, type ConvDirection } from './conv2d.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * igemm: the product as a 1×1 convolution on the conv kernels' 8-lane register tiles, one dispatch
 * reading both operands from storage (lavapipe's fastest: the subgroup kernel binds B as 64 KiB
 * uniform slices, one dispatch per slice and 32-column panel, and a dispatch costs ≈ 0.1–0.2 ms there);
 * subgroup: uniform-panel GEMM (a CPU adapter with subgroups of 8 or 16); register: 8×4 register
 * blocks, the best without subgroups on a CPU adapter; tiled: shared-memory tiles, for real GPUs.
 */
export type MatmulVariant = 'igemm' | 'subgroup' | 'register' | 'tiled';
const VARIANTS: readonly MatmulVariant[] = ['igemm', 'subgroup', 'register', 'tiled'];

/** Uniform slices of B panels are 64 KiB: 16384 floats. */
const SLICE_FLOATS = 16384;

/** Padding of M, N, K each variant needs (the subgroup kernel's panels are 4 columns per lane). */
function blocksOf(variant: MatmulVariant): { m: number; n: number; k: number } {
  if (variant === 'subgroup') {
    const panel = 4 * subgroupLanes();
    return { m: 8, n: panel, k: panel };
  }
  return variant === 'register' ? { m: 8, n: 4, k: 4 } : { m: 1, n: 1, k: 1 };
}

let forcedVariant: MatmulVariant | null = null;

function checkVariant(v: string, where: string): MatmulVariant {
  if (!VARIANTS.includes(v as MatmulVariant)) throw new GpuError(`${where}: unknown matmul kernel '${v}', expected one of ${VARIANTS.join(', ')}`);
  if (v === 'subgroup' && !subgroupLanes()) throw new GpuError(`${where}: the subgroup kernel needs a CPU adapter with subgroups of 8 or 16 lanes`);
  if (v === 'igemm' && !convTiles()) throw new GpuError(`${where}: the igemm kernel needs the conv register tiles (subgroups of 8 lanes)`);
  return v as MatmulVariant;
}

/** Forces a variant (benchmarks, tests); null restores the automatic choice. */
export function setMatmulVariant(v: MatmulVariant | null): void {
  forcedVariant = v === null ? null : checkVariant(v, 'setMatmulVariant');
}

/** Lanes of the subgroup kernel on this adapter, 0 where it does not apply. */
function subgroupLanes(): number {
  const g = gpu();
  const size = g.adapter.subgroupSize;
  return g.hasSubgroups && g.adapter.isFallback && (size === 8 || size === 16) ? size : 0;
}

/** Whether the conv kernels' register tiles run here (the igemm variant). */
const convTiles = (): boolean => convVariants().includes('tall');

/** The variants that run on this adapter. */
export function matmulVariants(): MatmulVariant[] {
  return VARIANTS.filter((v) => (v !== 'subgroup' || subgroupLanes()) && (v !== 'igemm' || convTiles()));
}

/** The variant set by setMatmulVariant or env CSG_MATMUL_KERNEL, if any. */
function explicitVariant(): MatmulVariant | null {
  if (forcedVariant) return forcedVariant;
  const env = platform.env('CSG_MATMUL_KERNEL');
  return env ? checkVariant(env, 'CSG_MATMUL_KERNEL') : null;
}

/** The variant for large products on this adapter (small ones may take the register kernel). */
export function matmulVariant(): MatmulVariant {
  const explicit = explicitVariant();
  if (explicit) return explicit;
  if (convTiles()) return 'igemm';
  if (subgroupLanes()) return 'subgroup';
  return gpu().adapter.isFallback ? 'register' : 'tiled';
}

/**
 * Below this many rows of C (all batches) the subgroup kernel has too few workgroups per dispatch
 * and its B panels cost more than they save: the register kernel was 1–4× cheaper at M ≤ 64.
 */
const SUBGROUP_MIN_ROWS = 128;

interface Dims {
  m: number;
  k: number;
  n: number;
  /** Number of distinct A / B matrices (1 for a 2-D operand, broadcast over the batch). */
  batchA: number;
  batchB: number;
  batch: number;
  outShape: number[];
}

function matmulDims(a: Tensor, b: Tensor, transA: boolean, transB: boolean, where: string): Dims {
  assertDtype(a, 'f32', where);
  assertDtype(b, 'f32', where);
  for (const t of [a, b]) {
    if (t.rank !== 2 && t.rank !== 3) {
      throw new TensorError(`${where}: operands must be [M, K] or batched [B, M, K]; got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
    }
  }
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const m = transA ? ca : ra;
  const ka = transA ? ra : ca;
  const kb = transB ? cb : rb;
  const n = transB ? rb : cb;
  if (ka !== kb) {
    const opA = `${shapeStr(a.shape)}${transA ? 'ᵀ' : ''}`;
    const opB = `${shapeStr(b.shape)}${transB ? 'ᵀ' : ''}`;
    throw new TensorError(`${where}: inner dimensions differ: ${opA} has K = ${ka}, ${opB} has K = ${kb}`);
  }
  const batchA = a.rank === 3 ? a.shape[0]! : 1;
  const batchB = b.rank === 3 ? b.shape[0]! : 1;
  if (a.rank === 3 && b.rank === 3 && batchA !== batchB) {
    throw new TensorError(`${where}: batch sizes differ: ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  }
  const batch = Math.max(batchA, batchB);
  const outShape = a.rank === 3 || b.rank === 3 ? [batch, m, n] : [m, n];
  return { m, k: ka, n, batchA, batchB, batch, outShape };
}

interface PackLayout {
  batch: number;
  rows: number;
  cols: number;
  rowsP: number;
  colsP: number;
  rowStride: number;
  colStride: number;
  batchStride: number;
  /** Columns per panel in the destination (default: colsP, plain row-major). */
  panel?: number;
}

const PACK_ROWS = 4;
const MAX_GROUPS = 65535;

function launchPack(src: GPUBufferBinding, dst: GPUBufferBinding, p: PackLayout): void {
  const panel = p.panel ?? p.colsP;
  const panels = p.colsP / panel;
  const rowsPerDispatch = MAX_GROUPS * PACK_ROWS;
  for (let rowOffset = 0; rowOffset < p.rowsP; rowOffset += rowsPerDispatch) {
    const rows = Math.min(rowsPerDispatch, p.rowsP - rowOffset);
    gpu().run(
      { family: 'matmul', entry: 'pack' },
      { src, dst },
      {
        rows: p.rows,
        cols: p.cols,
        rowsP: p.rowsP,
        panel,
        panels,
        rowOffset,
        rowStride: p.rowStride,
        colStride: p.colStride,
        batchStride: p.batchStride,
      },
      [Math.ceil(panel / 32), Math.ceil(rows / PACK_ROWS), p.batch * panels],
    );
  }
}

/** Layout reading op(t) (t or its transpose, of the last two axes) as `rows × cols` matrices. */
function operandLayout(t: Tensor, trans: boolean, batch: number, rowsP: number, colsP: number): PackLayout {
  const [r, c] = t.shape.slice(-2) as [number, number];
  return {
    batch,
    rows: trans ? c : r,
    cols: trans ? r : c,
    rowsP,
    colsP,
    rowStride: trans ? 1 : c,
    colStride: trans ? c : 1,
    batchStride: t.rank === 3 ? r * c : 0,
  };
}

/** op(t) as a dense padded [batch][rowsP][colsP] buffer; t's own buffer when that is already it. */
function packed(t: Tensor, trans: boolean, batch: number, rowsP: number, colsP: number, temps: Tensor[]): GPUBufferBinding {
  const layout = operandLayout(t, trans, batch, rowsP, colsP);
  if (!trans && layout.rows === rowsP && layout.cols === colsP) return t.binding;
  const out = Tensor.empty([batch * rowsP * colsP]);
  temps.push(out);
  launchPack(t.binding, out.binding, layout);
  return out.binding;
}

/** The unrolled body of gemm_subgroup's K loop: 4 steps of k per lane (see the WGSL). */
function subgroupSteps(lanes: number): string {
  const rows = ['a0', 'a1', 'a2', 'a3', 'a4v', 'a5', 'a6', 'a7'];
  const lines: string[] = [];
  // Names are unique per step rather than scoped in { } blocks: wgsl_reflect loses the entry point
  // on a bare block statement.
  for (let q = 0; q < lanes; q++) {
    // Lane q holds k = kb + 4q .. kb + 4q + 3 of every row.
    rows.forEach((a, r) => lines.push(`    let s${q}_${r} = subgroupBroadcast(${a}, ${q}u);`));
    for (let j = 0; j < 4; j++) {
      const k = 4 * q + j;
      lines.push(`    let b${k} = bPanel[bLane + ${k * lanes}u];`);
      rows.forEach((_, r) => lines.push(`    acc${r} = acc${r} + s${q}_${r}.${'xyzw'[j]} * b${k};`));
    }
  }
  return lines.join('\n');
}
const stepsSource = new Map<number, string>();

/**
 * op(A)·op(B) as a 1×1 convolution whose pixels are rows: A·Bᵀ is the forward (x = A [M, K], weight
 * B [N, K]), A·B the input gradient (dy = A, weight B [K, N]), Aᵀ·B the weight gradient (dy = A [R, M],
 * x = B [R, N], summed over the R rows). A's batch folds into its rows when B is shared; null for the
 * products that are none of these (a batched B, a batched Aᵀ, Aᵀ·Bᵀ).
 */
function launchAsConv(a: Tensor, b: Tensor, transA: boolean, transB: boolean, d: Dims): Tensor | null {
  if (d.batchB > 1 || (transA && (d.batchA > 1 || transB))) return null;
  const rows = d.batch * d.m;
  const plan: [ConvDirection, number, number, number] = transA ? ['weight', d.k, d.n, d.m] : transB ? ['forward', rows, d.k, d.n] : ['input', rows, d.n, d.k];
  const [direction, n, c, o] = plan;
  const g = convGeometry([n, c, 1, 1], [o, c, 1, 1]);
  // launchDirection's operands: forward(x, w), input(dy, w), weight(x, dy).
  const [first, second] = direction === 'forward' ? [a.view([n, c, 1, 1]), b.view([o, c, 1, 1])] : direction === 'input' ? [a.view([n, o, 1, 1]), b.view([o, c, 1, 1])] : [b.view([n, c, 1, 1]), a.view([n, o, 1, 1])];
  const result = launchDirection(direction, convVariant(direction, g), g, first, second, null);
  [first, second].forEach((t) => t.dispose());
  const out = result.view(d.outShape);
  result.dispose();
  return out;
}

/**
 * C = op(A)·op(B) with no tape entry: the building block of matmul, linear and their gradients, and
 * the GEMM for other ops (e.g. a convolution as im2col patches [N·H·W, C·kh·kw] times the weight
 * [O, C·kh·kw] with transB). Picks the variant, packs/pads operands, runs the GEMM, unpacks C.
 */
export function launchMatmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean, where = 'matmul'): Tensor {
  const d = matmulDims(a, b, transA, transB, where);
  const explicit = explicitVariant();
  let variant = explicit ?? matmulVariant();
  if (variant === 'igemm') {
    const viaConv = d.batch * d.m * d.n * d.k > 0 ? launchAsConv(a, b, transA, transB, d) : null;
    if (viaConv) return viaConv;
    variant = subgroupLanes() ? 'subgroup' : 'register';
  }
  const out = Tensor.empty(d.outShape);
  if (out.size === 0) return out;
  if (variant === 'subgroup' && !explicit && d.batch === 1 && d.m < SUBGROUP_MIN_ROWS && d.n >= 4 * SUBGROUP_MIN_ROWS && transB && !transA) {
    // Few rows, many columns, B stored [N, K] (nn.Linear's forward on 64 patch vectors in the CSG
    // heads): C = (B·Aᵀ)ᵀ gives the subgroup kernel N rows and reads B as it is stored; the transpose
    // back is one pack. 1.6–2.3× the register kernel at 64×2048×2048 (`npm run bench -- --filter "matmul head"`); without transB the swap
    // would transpose B and was slower.
    const ct = launchMatmul(b, a, !transB, !transA, where);
    const out = Tensor.empty(d.outShape);
    launchPack(ct.binding, out.binding, { batch: 1, rows: d.m, cols: d.n, rowsP: d.m, colsP: d.n, rowStride: 1, colStride: d.m, batchStride: 0 });
    ct.dispose();
    return out;
  }
  // The subgroup kernel folds the batch into M, which needs a single B shared by the whole batch.
  if (variant === 'subgroup' && (d.batchB > 1 || (!explicit && d.batch * d.m < SUBGROUP_MIN_ROWS))) variant = 'register';
  const blocks = blocksOf(variant);
  const mP = roundUp(d.m, blocks.m);
  const nP = roundUp(d.n, blocks.n);
  const kP = roundUp(Math.max(d.k, 1), blocks.k);
  const temps: Tensor[] = [];
  const direct = mP === d.m && nP === d.n;
  const c = direct ? out : Tensor.empty([d.batch * mP * nP]);
  if (!direct) temps.push(c);
  const aBuf = packed(a, transA, d.batchA, mP, kP, temps);
  if (variant === 'subgroup') {
    const lanes = subgroupLanes();
    const panel = 4 * lanes;
    const sliceK = SLICE_FLOATS / panel;
    // Slack after the last panel: every slice is bound as a full 64 KiB uniform (one pipeline for all shapes).
    const panels = Tensor.empty([nP * kP + SLICE_FLOATS]);
    temps.push(panels);
    launchPack(b.binding, panels.binding, { ...operandLayout(b, transB, 1, kP, nP), panel });
    if (!stepsSource.has(lanes)) stepsSource.set(lanes, subgroupSteps(lanes));
    const spec = { family: 'matmul_subgroup', entry: 'gemm_subgroup', defines: { LANES: lanes, STEPS: stepsSource.get(lanes)! } };
    const rowsTotal = d.batch * mP; // batches of A stacked as rows (B is shared)
    for (let p = 0; p < nP / panel; p++) {
      for (let k0 = 0; k0 < kP; k0 += sliceK) {
        gpu().run(
          spec,
          { a4: aBuf, bPanel: panels.bindRange((p * kP + k0) * panel * 4, SLICE_FLOATS * 4), c4: c.binding },
          {
            kSteps: Math.min(sliceK, kP - k0),
            kOffset: k0 / 4,
            cOffset: (p * panel) / 4,
            accumulate: k0 > 0 ? 1 : 0,
            aStride: kP / 4,
            cStride: nP / 4,
          },
          grid(rowsTotal / 8),
        );
      }
    }
  } else {
    const bBuf = packed(b, transB, d.batchB, kP, nP, temps);
    const params = {
      m: mP,
      n: nP,
      k: kP,
      aBatchStride: d.batchA > 1 ? mP * kP : 0,
      bBatchStride: d.batchB > 1 ? kP * nP : 0,
      cBatchStride: mP * nP,
    };
    if (variant === 'register') {
      const bufs = { a4: aBuf, b4: bBuf, c4: c.binding };
      gpu().run({ family: 'matmul', entry: 'gemm_register' }, bufs, params, [...grid(Math.ceil(((mP / 8) * nP) / 4 / 64)), d.batch]);
    } else {
      const bufs = { a: aBuf, b: bBuf, c: c.binding };
      gpu().run({ family: 'matmul', entry: 'gemm_tiled' }, bufs, params, [Math.ceil(nP / 16), Math.ceil(mP / 16), d.batch]);
    }
  }
  if (!direct) {
    launchPack(c.binding, out.binding, { batch: d.batch, rows: d.m, cols: d.n, rowsP: d.m, colsP: d.n, rowStride: nP, colStride: 1, batchStride: mP * nP });
  }
  for (const t of temps) t.dispose();
  return out;
}

/** Sums a gradient over the batch axis when its operand was 2-D (broadcast over the batch). */
function unbatched(g: Tensor, operand: Tensor): Tensor {
  if (g.rank === operand.rank) return g;
  const s = sum(g, 0);
  g.dispose();
  return s;
}

const matmulOp = defineOp<{ transA: boolean; transB: boolean }>({
  name: 'matmul',
  reads: { inputs: [0, 1], out: false },
  forward: ([a, b], { transA, transB }) => ({ out: launchMatmul(a!, b!, transA, transB) }),
  // C = op(A)·op(B): d op(A) = dC·op(B)ᵀ and d op(B) = op(A)ᵀ·dC, transposed back where op transposes.
  backward: ({ grad, inputs: [a, b], attrs: { transA, transB } }) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a!.requiresGrad) {
      ga = transA ? launchMatmul(b!, grad, transB, true) : launchMatmul(grad, b!, false, !transB);
      ga = unbatched(ga, a!);
    }
    if (b!.requiresGrad) {
      if (b!.rank === 2 && a!.rank === 3 && !transA) {
        // B shared by a batched, untransposed A: stack the batch as rows of one product
        // (Σ_b A_bᵀ·dC_b = [A_1; …; A_B]ᵀ·[dC_1; …; dC_B]) instead of B products and a sum.
        const aRows = a!.view([a!.shape[0]! * a!.shape[1]!, a!.shape[2]!]);
        const gRows = grad.view([grad.shape[0]! * grad.shape[1]!, grad.shape[2]!]);
        gb = transB ? launchMatmul(gRows, aRows, true, false) : launchMatmul(aRows, gRows, true, false);
        aRows.dispose();
        gRows.dispose();
      } else {
        gb = transB ? launchMatmul(grad, a!, true, transA) : launchMatmul(a!, grad, !transA, false);
        gb = unbatched(gb, b!);
      }
    }
    return [ga, gb];
  },
});

// a [M, K] (or [B, M, K]), b [K, N] (or [B, K, N]) → [M, N] (or [B, M, N]); transposes swap the last two dims
/** op(a)·op(b) for [M,K]·[K,N] or batched [B,M,K]·[B,K,N] (a 2-D operand is shared by the batch). */
export const matmul = (a: Tensor, b: Tensor, { transA = false, transB = false }: MatmulOptions = {}): Tensor =>
  matmulOp([a, b], { transA, transB });

function linearCheck(x: Tensor, weight: Tensor, bias: Tensor | null): void {
  if (x.rank !== 2 || weight.rank !== 2) {
    throw new TensorError(`linear: expected x [N, in] and weight [out, in]; got ${shapeStr(x.shape)} and ${shapeStr(weight.shape)}`);
  }
  if (x.shape[1] !== weight.shape[1]) {
    throw new TensorError(`linear: x ${shapeStr(x.shape)} has ${x.shape[1]} features, weight ${shapeStr(weight.shape)} expects ${weight.shape[1]}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new TensorError(`linear: bias ${shapeStr(bias.shape)} does not match weight ${shapeStr(weight.shape)} (expected [${weight.shape[0]}])`);
  }
}

const linearOp = defineOp({
  name: 'linear',
  reads: { inputs: [0, 1], out: false },
  forward: ([x, weight, bias]) => {
    const y = launchMatmul(x!, weight!, false, true, 'linear');
    if (!bias) return { out: y };
    const out = launchBinary('x + y', y, bias, 0, 'linear');
    y.dispose();
    return { out };
  },
  // y = x·Wᵀ + b: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
  backward: ({ grad, inputs: [x, weight, bias] }) => [
    x!.requiresGrad ? launchMatmul(grad, weight!, false, false) : null,
    weight!.requiresGrad ? launchMatmul(grad, x!, true, false) : null,
    bias?.requiresGrad ? sum(grad, 0) : null,
  ],
});

// x [N, in], weight [out, in], bias [out] | null → [N, out]
/** PyTorch's nn.Linear: x [N, in], weight [out, in], bias [out] or null → [N, out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  linearCheck(x, weight, bias);
  return linearOp(bias ? [x, weight, bias] : [x, weight], {});
}
