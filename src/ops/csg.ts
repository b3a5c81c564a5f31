// CSG's own ops (recipe §2): L2 normalisation, the patch grid, A-Pool (and plain average pooling) over
// patch pieces, and InfoNCE against a key queue, each with its backward rule.
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr, roundUp } from '../tensor/index.js';
import { mean } from './reduce.js';

// ---------------------------------------------------------------------------------------------
// Piece geometry: PyTorch `chunk` semantics. A side of length n cut into `chunks` gives pieces of
// ceil(n / chunks), the last possibly shorter, and only ceil(n / ceil(n / chunks)) of them.

export interface PieceGrid {
  /** Rows and columns of a piece (the last row/column of pieces may be shorter). */
  ph: number;
  pw: number;
  /** Number of piece rows and columns; P = gr·gc pieces per image. */
  gr: number;
  gc: number;
}

export function pieceGrid(height: number, width: number, chunks: number): PieceGrid {
  if (!Number.isInteger(chunks) || chunks < 1) throw new TensorError(`patch grid: chunks must be a positive integer, got ${chunks}`);
  if (height < 1 || width < 1) throw new TensorError(`patch grid: empty feature map ${height}×${width}`);
  const ph = Math.ceil(height / chunks);
  const pw = Math.ceil(width / chunks);
  return { ph, pw, gr: Math.ceil(height / ph), gc: Math.ceil(width / pw) };
}

interface Geo {
  batch: number;
  channels: number;
  height: number;
  width: number;
  ph: number;
  pw: number;
  gr: number;
  gc: number;
}

const unusedGeo: Geo = { batch: 1, channels: 1, height: 1, width: 1, ph: 1, pw: 1, gr: 1, gc: 1 };

function runCsg(entry: string, buffers: Record<string, GPUBufferBinding>, geo: Geo, n: number, flags: { unitWeight?: boolean; byCount?: boolean; eps?: number } = {}): void {
  gpu().run(
    { family: 'csg', entry },
    buffers,
    { ...geo, n, unitWeight: flags.unitWeight ? 1 : 0, byCount: flags.byCount ? 1 : 0, eps: flags.eps ?? 0 },
    grid(Math.ceil(n / 64)),
  );
}

function mapGeo(x: Tensor, chunks: number, where: string): Geo {
  assertDtype(x, 'f32', where);
  if (x.rank !== 4) throw new TensorError(`${where}: expected a feature map [B, C, H, W], got ${shapeStr(x.shape)}`);
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  return { batch, channels, height, width, ...pieceGrid(height, width, chunks) };
}

const pieceVectors = (geo: Geo): number => geo.gr * geo.gc * geo.batch;

// ---------------------------------------------------------------------------------------------
// L2 normalisation of rows, x / max(‖x‖, eps) as PyTorch's F.normalize.

const l2NormalizeOp = defineOp<{ eps: number }>({
  name: 'l2Normalize',
  forward: ([x], { eps }) => {
    const [n, d] = x!.shape as [number, number];
    const geo = { ...unusedGeo, channels: d };
    const norms = Tensor.empty([n]);
    runCsg('l2_norms', { x: x!.binding, out: norms.binding }, geo, n, { eps });
    const out = Tensor.empty(x!.shape);
    runCsg('l2_forward', { x: x!.binding, den: norms.binding, out: out.binding }, geo, n * d, { eps });
    return { out, saved: [norms] };
  },
  backward: ({ grad, out, saved: [norms], attrs: { eps } }) => {
    const [n, d] = out.shape as [number, number];
    const dx = Tensor.empty(out.shape);
    runCsg('l2_backward', { v: out.binding, w: grad.binding, den: norms!.binding, out: dx.binding }, { ...unusedGeo, channels: d }, n * d, { eps });
    return [dx];
  },
});

/** Normalises each row of x [N, D] to unit length: x / max(‖x‖, eps). */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  assertDtype(x, 'f32', 'l2Normalize');
  if (x.rank !== 2) throw new TensorError(`l2Normalize: expected rows [N, D], got ${shapeStr(x.shape)}`);
  return l2NormalizeOp([x], { eps });
}

// ---------------------------------------------------------------------------------------------
// Patch grid (even cuts): [B, C, H, W] → [g²·B, C, H/g, W/g], patch (r, c) of image b at (r·g + c)·B + b.

const patchGridOp = defineOp<{ geo: Geo }>({
  name: 'patchGrid',
  forward: ([x], { geo }) => {
    const out = Tensor.empty([pieceVectors(geo), geo.channels, geo.ph, geo.pw]);
    runCsg('patch_grid', { x: x!.binding, out: out.binding }, geo, out.size);
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { geo } }) => {
    const dx = Tensor.empty(x!.shape);
    runCsg('patch_ungrid', { x: grad.binding, out: dx.binding }, geo, grad.size);
    return [dx];
  },
});

/** Cuts x [B, C, H, W] into a g×g grid of patches; H and W must be multiples of g (else use aPool/patchAvgPool with chunks). */
export function patchGrid(x: Tensor, g = 8): Tensor {
  const geo = mapGeo(x, g, 'patchGrid');
  if (geo.height % g !== 0 || geo.width % g !== 0) {
    throw new TensorError(`patchGrid: ${geo.height}×${geo.width} does not cut evenly into a ${g}×${g} grid; aPool/patchAvgPool take uneven chunks`);
  }
  return patchGridOp([x], { geo });
}

// ---------------------------------------------------------------------------------------------
// A-Pool per piece: v̄ = piece mean of the attention source S, w_i = <S_i, v̄>, a_i = w_i / Σ w,
// pooled = Σ_i a_i·V_i. Output [P·B, C], vector (r·gc + c)·B + b.

const aPoolOp = defineOp<{ geo: Geo }>({
  name: 'aPool',
  forward: ([src, values], { geo }) => {
    const vectors = pieceVectors(geo);
    const pixels = geo.batch * geo.height * geo.width;
    const pieceMean = Tensor.empty([vectors, geo.channels]);
    runCsg('piece_weighted_sum', { x: src!.binding, w: src!.binding, den: src!.binding, out: pieceMean.binding }, geo, pieceMean.size, { unitWeight: true, byCount: true });
    const logits = Tensor.empty([geo.batch, geo.height, geo.width]);
    runCsg('pixel_dot', { x: src!.binding, v: pieceMean.binding, out: logits.binding }, geo, pixels);
    const total = Tensor.empty([vectors]);
    runCsg('piece_pixel_sum', { x: logits.binding, w: logits.binding, out: total.binding }, geo, vectors);
    const out = Tensor.empty([vectors, geo.channels]);
    runCsg('piece_weighted_sum', { x: values!.binding, w: logits.binding, den: total.binding, out: out.binding }, geo, out.size);
    return { out, saved: [pieceMean, logits, total] };
  },
  backward: ({ grad, inputs: [src, values], saved: [pieceMean, logits, total], attrs: { geo } }) => {
    const pixels = geo.batch * geo.height * geo.width;
    let dValues: Tensor | null = null;
    if (values!.requiresGrad) {
      dValues = Tensor.empty(values!.shape);
      runCsg('apool_values_grad', { w: logits!.binding, v: grad.binding, den: total!.binding, out: dValues.binding }, geo, dValues.size);
    }
    if (!src!.requiresGrad) return [null, dValues];
    // h_i = <g, V_i>; u_i = (h_i − Σ a h) / Z; dS = u_i·v̄ + Σ_k u_k S_k / count.
    const h = Tensor.empty([geo.batch, geo.height, geo.width]);
    runCsg('pixel_dot', { x: values!.binding, v: grad.binding, out: h.binding }, geo, pixels);
    const weightedH = Tensor.empty([pieceVectors(geo)]);
    runCsg('piece_pixel_sum', { x: h.binding, w: logits!.binding, out: weightedH.binding }, geo, weightedH.size, { unitWeight: true });
    const u = Tensor.empty(h.shape);
    runCsg('apool_logit_grad', { x: h.binding, v: weightedH.binding, den: total!.binding, out: u.binding }, geo, pixels);
    const r = Tensor.empty(grad.shape);
    runCsg('piece_weighted_sum', { x: src!.binding, w: u.binding, den: total!.binding, out: r.binding }, geo, r.size, { byCount: true });
    const dSrc = Tensor.empty(src!.shape);
    runCsg('apool_source_grad', { w: u.binding, v: pieceMean!.binding, x: r.binding, out: dSrc.binding }, geo, dSrc.size);
    for (const t of [h, weightedH, u, r]) t.dispose();
    return [dSrc, dValues];
  },
});

/**
 * A-Pool of `values` [B, C, H, W] with attention computed from `attnSource` (same shape), each of the
 * chunks×chunks pieces on its own → [P·B, C]. Pass a source without requiresGrad (a no-grad pass)
 * and it takes no gradient. chunks = 1 pools the whole map.
 */
export function aPool(attnSource: Tensor, values: Tensor, chunks = 1): Tensor {
  const geo = mapGeo(attnSource, chunks, 'aPool');
  mapGeo(values, chunks, 'aPool');
  if (values.shape.some((d, i) => d !== attnSource.shape[i])) {
    throw new TensorError(`aPool: attention source ${shapeStr(attnSource.shape)} and values ${shapeStr(values.shape)} differ in shape`);
  }
  return aPoolOp([attnSource, values], { geo });
}

const patchAvgPoolOp = defineOp<{ geo: Geo }>({
  name: 'patchAvgPool',
  forward: ([x], { geo }) => {
    const out = Tensor.empty([pieceVectors(geo), geo.channels]);
    runCsg('piece_weighted_sum', { x: x!.binding, w: x!.binding, den: x!.binding, out: out.binding }, geo, out.size, { unitWeight: true, byCount: true });
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { geo } }) => {
    const dx = Tensor.empty(x!.shape);
    runCsg('apool_values_grad', { w: grad.binding, v: grad.binding, den: grad.binding, out: dx.binding }, geo, dx.size, { unitWeight: true, byCount: true });
    return [dx];
  },
});

/** Plain average pooling of each piece (the --no-apool alternative): [B, C, H, W] → [P·B, C]. */
export function patchAvgPool(x: Tensor, chunks = 1): Tensor {
  return patchAvgPoolOp([x], { geo: mapGeo(x, chunks, 'patchAvgPool') });
}

/** Global average pooling to vectors: [B, C, H, W] → [B, C]. */
export function globalAvgPoolVectors(x: Tensor): Tensor {
  return patchAvgPool(x, 1);
}

// ---------------------------------------------------------------------------------------------
// InfoNCE: logits [q·k, q·queue_1..K] / τ, cross-entropy to index 0, mean over the N queries.

/** Queries per workgroup in the streaming pass (a register tile). */
const NCE_ROWS = 8;
/** Workgroups the streaming pass aims for (splitting the queue when queries are few). */
const NCE_TARGET_WORKGROUPS = 48;

function nceKernel(entry: string, dim: number, withGrad: boolean) {
  return { family: 'nce', entry, defines: { D: dim, R: NCE_ROWS, ACC: withGrad ? 'true' : 'false' } };
}

export interface NceRows {
  /** Per-query loss lse − l_pos [N]. */
  rowLoss: Tensor;
  /** Per-query count of negatives whose logit beats the positive [N] (u32): 0 = top-1. */
  ranks: Tensor;
  /** Softmax expectation of the keys E[kv] [N, D] (only when withGrad). */
  expect: Tensor | null;
}

export type NceVariant = 'window' | 'stream';
let forcedNceVariant: NceVariant | null = null;

/** Forces the InfoNCE kernel (tests, benchmarks); null restores the automatic choice. */
export function setNceVariant(v: NceVariant | null): void {
  forcedNceVariant = v;
}

/** Largest padded dim the window kernel takes: a window must hold 32 keys in 64 KiB. */
const WINDOW_MAX_DP = 512;
const UNIFORM_FLOATS = 16384;
/** Queries per workgroup of the window kernel (4 is as fast, 16 slower: register pressure). */
const NCE_WINDOW_ROWS = 8;

/**
 * 'window' (nce_subgroup.wgsl, every operand through 64 KiB uniform windows) is lavapipe's fast form
 * and needs subgroups of 8 on a CPU adapter; 'stream' (nce.wgsl) runs anywhere.
 */
export function nceVariant(dim: number): NceVariant {
  const windowOk = nceVariants().includes('window') && roundUp(dim, 32) <= WINDOW_MAX_DP;
  if (forcedNceVariant === 'window' && !windowOk) throw new TensorError(`infoNce: the window kernel needs subgroups of 8 and D ≤ ${WINDOW_MAX_DP}`);
  return forcedNceVariant ?? (windowOk && gpu().adapter.isFallback ? 'window' : 'stream');
}

/** The InfoNCE kernels that run on this adapter. */
export function nceVariants(): NceVariant[] {
  const g = gpu();
  return g.hasSubgroups && g.adapter.subgroupSize === 8 ? ['window', 'stream'] : ['stream'];
}

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
  return nceVariant(dim) === 'window' ? nceRowsWindow(q, k, queue, tau, withGrad) : nceRowsStream(q, k, queue, tau, withGrad);
}

const windowSource = new Map<string, Record<string, string | number>>();

/** Defines of nce_subgroup.wgsl for a padded dim: the unrolled bodies (names unique per step, see matmul.ts). */
function windowDefines(dp: number, w: number, withGrad: boolean): Record<string, string | number> {
  const key = `${dp}/${withGrad}`;
  const cached = windowSource.get(key);
  if (cached) return cached;
  const rows = Array.from({ length: NCE_WINDOW_ROWS }, (_, r) => r);
  const blocks = Array.from({ length: dp / 32 }, (_, db) => db);
  const xyzw = 'xyzw';
  const init: string[] = [];
  const phase1: string[] = [];
  const softmax: string[] = [];
  const phase2: string[] = [];
  const store: string[] = [];
  for (const r of rows) {
    init.push(`  let st${r} = statsIn[(tileRow + ${r}u) * 8u + lane];`);
    // m is the same in every lane; taking lane 0's makes that visible to the compiler (uniform branches).
    init.push(`  var m${r} = select(subgroupBroadcast(st${r}.z, 0u), NEG, params.first != 0u);`);
    init.push(`  var s${r} = vec4<f32>(select(st${r}.x, 0.0, params.first != 0u), 0.0, 0.0, 0.0);`);
    init.push(`  var c${r} = vec4<f32>(select(st${r}.y, 0.0, params.first != 0u), 0.0, 0.0, 0.0);`);
    init.push(`  let p${r} = lpos[row0 + ${r}u];`);
    store.push(`  stats[(row0 + ${r}u) * 8u + lane] = vec4<f32>((s${r}.x + s${r}.y) + (s${r}.z + s${r}.w), (c${r}.x + c${r}.y) + (c${r}.z + c${r}.w), m${r}, 0.0);`);
    if (withGrad) {
      for (const db of blocks) {
        init.push(`  var a${r}_${db} = select(accIn[(tileRow + ${r}u) * ${dp / 4}u + ${db * 8}u + lane], vec4<f32>(0.0), params.first != 0u);`);
        store.push(`  acc[(row0 + ${r}u) * ${dp / 4}u + ${db * 8}u + lane] = a${r}_${db};`);
      }
    }
  }
  phase1.push(`    let kb = b * 8u + lane;`);
  for (const db of blocks) {
    for (const r of rows) phase1.push(`    let q${db}_${r} = qU[qRow + ${r * (dp / 4) + db * 8}u];`);
    for (let lp = 0; lp < 8; lp++) {
      for (const r of rows) phase1.push(`    let x${db}_${lp}_${r} = subgroupBroadcast(q${db}_${r}, ${lp}u);`);
      for (let c = 0; c < 4; c++) {
        phase1.push(`    let k${db}_${lp}_${c} = dk[kb + ${(db * 32 + 4 * lp + c) * (w / 4)}u];`);
        for (const r of rows) phase1.push(`    l${r} = l${r} + x${db}_${lp}_${r}.${xyzw[c]} * k${db}_${lp}_${c};`);
      }
    }
  }
  for (const r of rows) {
    softmax.push(`    let lm${r} = select(vec4<f32>(NEG), l${r}, valid);`);
    softmax.push(`    let bm${r} = subgroupMax(max(max(lm${r}.x, lm${r}.y), max(lm${r}.z, lm${r}.w)));`);
    softmax.push(`    if (bm${r} > m${r} + GROW) {`);
    softmax.push(`      let f = exp(m${r} - bm${r});`);
    softmax.push(`      s${r} = s${r} * f;`);
    if (withGrad) for (const db of blocks) softmax.push(`      a${r}_${db} = a${r}_${db} * f;`);
    softmax.push(`      m${r} = bm${r};`);
    softmax.push(`    }`);
    softmax.push(`    let e${r} = select(vec4<f32>(0.0), exp(l${r} - m${r}), valid);`);
    softmax.push(`    s${r} = s${r} + e${r};`);
    softmax.push(`    c${r} = c${r} + select(vec4<f32>(0.0), vec4<f32>(1.0), (l${r} > vec4<f32>(p${r})) & valid);`);
  }
  if (withGrad) {
    phase2.push(`    let kdBase = b * ${32 * (dp / 4)}u + lane;`);
    for (const db of blocks) {
      for (let lp = 0; lp < 8; lp++) {
        for (const r of rows) phase2.push(`    let y${db}_${lp}_${r} = subgroupBroadcast(e${r}, ${lp}u);`);
        for (let c = 0; c < 4; c++) {
          phase2.push(`    let v${db}_${lp}_${c} = kd[kdBase + ${(4 * lp + c) * (dp / 4) + db * 8}u];`);
          for (const r of rows) phase2.push(`    a${r}_${db} = a${r}_${db} + y${db}_${lp}_${r}.${xyzw[c]} * v${db}_${lp}_${c};`);
        }
      }
    }
  }
  const defines = {
    R: NCE_WINDOW_ROWS,
    LOGITS: rows.map((r) => `    var l${r} = vec4<f32>(0.0);`).join('\n'),
    DP: dp,
    W: w,
    ACC: withGrad ? 'true' : 'false',
    INIT: init.join('\n'),
    PHASE1: phase1.join('\n'),
    SOFTMAX: softmax.join('\n'),
    PHASE2: phase2.join('\n'),
    STORE: store.join('\n'),
  };
  windowSource.set(key, defines);
  return defines;
}

/** The window pass: one dispatch per (query super-tile, queue window), state carried in storage. */
function nceRowsWindow(q: Tensor, k: Tensor, queue: Tensor, tau: number, withGrad: boolean): NceRows {
  const [n, dim] = q.shape as [number, number];
  const keys = queue.shape[1]!;
  const dp = roundUp(dim, 32);
  const w = Math.floor(UNIFORM_FLOATS / dp / 32) * 32;
  const superRows = Math.floor(UNIFORM_FLOATS / dp / NCE_WINDOW_ROWS) * NCE_WINDOW_ROWS;
  const np = roundUp(n, NCE_WINDOW_ROWS);
  const windows = Math.ceil(keys / w);
  const defines = windowDefines(dp, w, withGrad);
  const spec = (entry: string) => ({ family: 'nce_subgroup', entry, defines });
  const base = { n, keys, keyBase: 0, rowBase: 0, first: 0, dim, total: 0, invTau: 1 / tau };
  // Each packed operand has 64 KiB of slack: every window / super-tile is bound as a full 64 KiB.
  const qPacked = Tensor.empty([np * dp + UNIFORM_FLOATS]);
  const lpos = Tensor.empty([np]);
  gpu().run(spec('nce_pack_q'), { src: q.binding, kpos: k.binding, packed: qPacked.binding, lposOut: lpos.binding }, { ...base, total: np * dp }, grid(Math.ceil((np * dp) / 64)));
  const dkPacked = Tensor.empty([windows * dp * w + UNIFORM_FLOATS]);
  const kdPacked = Tensor.empty([windows * dp * w + UNIFORM_FLOATS]);
  gpu().run(spec('nce_pack_queue'), { src4: queue.binding, packed4: dkPacked.binding, packedT4: kdPacked.binding }, { ...base, total: (windows * dp * w) / 16 }, grid(Math.ceil((windows * dp * w) / 16 / 64)));
  // Two generations of state (each dispatch reads one through uniforms and writes the other), with
  // slack for the 64 KiB bindings of the last super-tile.
  const state = [0, 1].map(() => ({
    stats: Tensor.empty([np * 8 * 4 + UNIFORM_FLOATS]),
    acc: Tensor.empty([withGrad ? np * dp + UNIFORM_FLOATS : 4]),
  }));
  const uniform = (t: Tensor, floatOffset: number) => t.bindRange(floatOffset * 4, UNIFORM_FLOATS * 4);
  for (let win = 0; win < windows; win++) {
    const [prev, next] = [state[(win + 1) % 2]!, state[win % 2]!];
    for (let rowBase = 0; rowBase < np; rowBase += superRows) {
      const buffers = {
        qU: uniform(qPacked, rowBase * dp),
        dk: uniform(dkPacked, win * dp * w),
        lpos: lpos.binding,
        statsIn: uniform(prev.stats, rowBase * 32),
        stats: next.stats.binding,
        ...(withGrad ? { kd: uniform(kdPacked, win * dp * w), accIn: uniform(prev.acc, rowBase * dp), acc: next.acc.binding } : {}),
      };
      gpu().run(spec('nce_window'), buffers, { ...base, keyBase: win * w, rowBase, first: win === 0 ? 1 : 0 }, [Math.min(superRows, np - rowBase) / NCE_WINDOW_ROWS]);
    }
  }
  const { stats, acc } = state[(windows - 1) % 2]!;
  qPacked.dispose();
  dkPacked.dispose();
  kdPacked.dispose();
  const rowLoss = Tensor.empty([n]);
  const ranks = Tensor.empty([n], 'u32');
  const expect = withGrad ? Tensor.empty([n, dim]) : null;
  const unusedExpect = expect ? null : Tensor.empty([1]);
  gpu().run(
    spec('nce_window_combine'),
    { lpos: lpos.binding, stats: stats.binding, acc: acc.binding, kpos: k.binding, rowLoss: rowLoss.binding, rank: ranks.binding, expect: (expect ?? unusedExpect!).binding },
    base,
    grid(Math.ceil(n / 64)),
  );
  lpos.dispose();
  for (const t of state) [t.stats, t.acc].forEach((x) => x.dispose());
  unusedExpect?.dispose();
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

/**
 * InfoNCE loss (scalar) of queries q [N, D] with positives k [N, D] against queue [D, K], and the rank
 * of each positive among the K + 1 candidates. Gradient to q only (k and the queue take none).
 */
export function infoNceWithRanks(q: Tensor, k: Tensor, queue: Tensor, tau = 0.07): { loss: Tensor; ranks: Tensor } {
  const sink: NceAttrs['sink'] = {};
  const loss = infoNceOp([q, k, queue], { tau, sink });
  return { loss, ranks: sink.ranks! };
}

export function infoNce(q: Tensor, k: Tensor, queue: Tensor, tau = 0.07): Tensor {
  const { loss, ranks } = infoNceWithRanks(q, k, queue, tau);
  ranks.dispose();
  return loss;
}

/** [top-1, top-5] ranking accuracy (fractions) from the ranks of infoNceWithRanks. */
export function rankAccuracy(ranks: Tensor): Tensor {
  assertDtype(ranks, 'u32', 'rankAccuracy');
  const out = Tensor.empty([2]);
  gpu().run(nceKernel('nce_accuracy', 1, false), { rank: ranks.binding, expect: out.binding }, { n: ranks.size, keys: 0, keysPerSplit: 0, parts: 0, invTau: 0, gradScale: 0 }, [1]);
  return out;
}
