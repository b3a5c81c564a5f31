// CSG's patch ops (recipe §2): the patch grid, and A-Pool (and plain average pooling) over the
// pieces of a feature map, each with its backward rule.
// WGSL: shaders/patch.wgsl · reference: kernels-test/ref/patch.ts · test: kernels-test/patch.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr } from '../tensor/index.js';

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

/** One invocation per output element (n of them); the flags are patch.wgsl's unitWeight and byCount. */
function runPatch(entry: string, buffers: Record<string, GPUBufferBinding>, geo: Geo, n: number, flags: { unitWeight?: boolean; byCount?: boolean } = {}): void {
  gpu().run({ family: 'patch', entry }, buffers, { ...geo, n, unitWeight: flags.unitWeight ? 1 : 0, byCount: flags.byCount ? 1 : 0 }, grid(Math.ceil(n / 64)));
}

function mapGeo(x: Tensor, chunks: number, where: string): Geo {
  assertDtype(x, 'f32', where);
  if (x.rank !== 4) throw new TensorError(`${where}: expected a feature map [B, C, H, W], got ${shapeStr(x.shape)}`);
  const [batch, channels, height, width] = x.shape as [number, number, number, number];
  return { batch, channels, height, width, ...pieceGrid(height, width, chunks) };
}

const pieceVectors = (geo: Geo): number => geo.gr * geo.gc * geo.batch;

// ---------------------------------------------------------------------------------------------
// Patch grid (even cuts): [B, C, H, W] → [g²·B, C, H/g, W/g], patch (r, c) of image b at (r·g + c)·B + b.

const patchGridOp = defineOp<{ geo: Geo }>({
  name: 'patchGrid',
  reads: { inputs: [], out: false },
  forward: ([x], { geo }) => {
    const out = Tensor.empty([pieceVectors(geo), geo.channels, geo.ph, geo.pw]);
    runPatch('patch_grid', { x: x!.binding, out: out.binding }, geo, out.size);
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { geo } }) => {
    const dx = Tensor.empty(x!.shape);
    runPatch('patch_ungrid', { x: grad.binding, out: dx.binding }, geo, grad.size);
    return [dx];
  },
});

// x [B, C, H, W] → patches [g²·B, C, H/g, W/g]
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
  reads: { inputs: [0, 1], out: false },
  forward: ([src, values], { geo }) => {
    const vectors = pieceVectors(geo);
    const pixels = geo.batch * geo.height * geo.width;
    const pieceMean = Tensor.empty([vectors, geo.channels]);
    runPatch('piece_weighted_sum', { x: src!.binding, w: src!.binding, den: src!.binding, out: pieceMean.binding }, geo, pieceMean.size, { unitWeight: true, byCount: true });
    const logits = Tensor.empty([geo.batch, geo.height, geo.width]);
    runPatch('pixel_dot', { x: src!.binding, v: pieceMean.binding, out: logits.binding }, geo, pixels);
    const total = Tensor.empty([vectors]);
    runPatch('piece_pixel_sum', { x: logits.binding, w: logits.binding, out: total.binding }, geo, vectors);
    const out = Tensor.empty([vectors, geo.channels]);
    runPatch('piece_weighted_sum', { x: values!.binding, w: logits.binding, den: total.binding, out: out.binding }, geo, out.size);
    return { out, saved: [pieceMean, logits, total] };
  },
  backward: ({ grad, inputs: [src, values], saved: [pieceMean, logits, total], attrs: { geo } }) => {
    const pixels = geo.batch * geo.height * geo.width;
    let dValues: Tensor | null = null;
    if (values!.requiresGrad) {
      dValues = Tensor.empty(values!.shape);
      runPatch('apool_values_grad', { w: logits!.binding, v: grad.binding, den: total!.binding, out: dValues.binding }, geo, dValues.size);
    }
    if (!src!.requiresGrad) return [null, dValues];
    // h_i = <g, V_i>; u_i = (h_i − Σ a h) / Z; dS = u_i·v̄ + Σ_k u_k S_k / count.
    const h = Tensor.empty([geo.batch, geo.height, geo.width]);
    runPatch('pixel_dot', { x: values!.binding, v: grad.binding, out: h.binding }, geo, pixels);
    const weightedH = Tensor.empty([pieceVectors(geo)]);
    runPatch('piece_pixel_sum', { x: h.binding, w: logits!.binding, out: weightedH.binding }, geo, weightedH.size, { unitWeight: true });
    const u = Tensor.empty(h.shape);
    runPatch('apool_logit_grad', { x: h.binding, v: weightedH.binding, den: total!.binding, out: u.binding }, geo, pixels);
    const r = Tensor.empty(grad.shape);
    runPatch('piece_weighted_sum', { x: src!.binding, w: u.binding, den: total!.binding, out: r.binding }, geo, r.size, { byCount: true });
    const dSrc = Tensor.empty(src!.shape);
    runPatch('apool_source_grad', { w: u.binding, v: pieceMean!.binding, x: r.binding, out: dSrc.binding }, geo, dSrc.size);
    for (const t of [h, weightedH, u, r]) t.dispose();
    return [dSrc, dValues];
  },
});

// attnSource, values [B, C, H, W] → pooled [P·B, C], P pieces per image
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
  reads: { inputs: [], out: false },
  forward: ([x], { geo }) => {
    const out = Tensor.empty([pieceVectors(geo), geo.channels]);
    runPatch('piece_weighted_sum', { x: x!.binding, w: x!.binding, den: x!.binding, out: out.binding }, geo, out.size, { unitWeight: true, byCount: true });
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { geo } }) => {
    const dx = Tensor.empty(x!.shape);
    runPatch('apool_values_grad', { w: grad.binding, v: grad.binding, den: grad.binding, out: dx.binding }, geo, dx.size, { unitWeight: true, byCount: true });
    return [dx];
  },
});

// x [B, C, H, W] → pooled [P·B, C]
/** Plain average pooling of each piece (the --no-apool alternative): [B, C, H, W] → [P·B, C]. */
export function patchAvgPool(x: Tensor, chunks = 1): Tensor {
  return patchAvgPoolOp([x], { geo: mapGeo(x, chunks, 'patchAvgPool') });
}

// x [B, C, H, W] → [B, C]
/** Global average pooling to vectors: [B, C, H, W] → [B, C]. */
export function globalAvgPoolVectors(x: Tensor): Tensor {
  return patchAvgPool(x, 1);
}
