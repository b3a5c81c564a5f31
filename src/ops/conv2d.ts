// conv2d (NCHW, OIHW as PyTorch) with gradients to input, weight and bias, as implicit GEMM
// (shaders/conv2d.wgsl). Kernel variants, chosen per adapter and shape by src/gpu/autotune:
// 'tall' and 'regblock' (8-lane subgroup register tiles of 16 or 8 rows straight from NCHW storage:
// the fastest on lavapipe), 'panel' (channels-last activations, weights through 64 KiB uniform panels,
// as in the subgroup matmul) and 'tiled' (workgroup-memory tiles, portable).
// WGSL: shaders/conv2d.wgsl · reference: kernels-test/ref/conv2d.ts · test: kernels-test/conv2d.test.ts
// Over 400 lines on purpose: the four variants share the geometry, the packing helpers and the
// autotune trial; split apart they would each need most of the others.
import { gpu, grid, chooseVariant, type Trial, type KernelSpec } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr, roundUp, recordsGradient } from '../tensor/index.js';
import { sum, reshape } from './reduce.js';
import { narrow } from './shape.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

/** Everything a launch needs about one convolution. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  ho: number;
  wo: number;
}

export type ConvVariant = 'panel' | 'regblock' | 'tall' | 'tiled';
export type ConvDirection = 'forward' | 'input' | 'weight';

/** Rows of a workgroup's tile in the implicit-GEMM kernels (the panel GEMM's are 8). */
const tileRowsOf = (variant: ConvVariant): number => ({ tall: 16, regblock: 8, panel: 8, tiled: 32 })[variant];

function pair(v: Pair, what: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((d) => Number.isInteger(d))) throw new TensorError(`conv2d: ${what} must be integers, got ${JSON.stringify(v)}`);
  return p;
}

/** Checks shapes and options; output size as PyTorch: floor((H + 2p − d(k−1) − 1)/s) + 1. */
export function convGeometry(xShape: readonly number[], wShape: readonly number[], options: Conv2dOptions = {}): ConvGeometry {
  if (xShape.length !== 4) throw new TensorError(`conv2d: input must be 4-D [N, C, H, W], got ${shapeStr(xShape)}`);
  if (wShape.length !== 4) throw new TensorError(`conv2d: weight must be 4-D [O, C, kh, kw], got ${shapeStr(wShape)}`);
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [o, wc, kh, kw] = wShape as [number, number, number, number];
  if (wc !== c) throw new TensorError(`conv2d: input has ${c} channels but weight ${shapeStr(wShape)} expects ${wc}`);
  const [sh, sw] = pair(options.stride ?? 1, 'stride');
  const [ph, pw] = pair(options.padding ?? 0, 'padding');
  const [dh, dw] = pair(options.dilation ?? 1, 'dilation');
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0) {
    throw new TensorError(`conv2d: stride and dilation must be ≥ 1 and padding ≥ 0 (stride ${sh},${sw} padding ${ph},${pw} dilation ${dh},${dw})`);
  }
  if (n < 1 || c < 1 || o < 1 || kh < 1 || kw < 1) throw new TensorError(`conv2d: empty input ${shapeStr(xShape)} or weight ${shapeStr(wShape)}`);
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (ho < 1 || wo < 1) {
    throw new TensorError(`conv2d: output size ${ho}×${wo} ≤ 0 for input ${h}×${w}, kernel ${kh}×${kw}, padding ${ph},${pw}, dilation ${dh},${dw}, stride ${sh},${sw}`);
  }
  return { n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo };
}

export function convVariants(): ConvVariant[] {
  // Best guess first (used until tuned): the register-blocked kernels won nearly every shape on lavapipe.
  // They are written for 8-lane subgroups (SwiftShader's are 4 wide and gave zeros): others get 'tiled'.
  const g = gpu();
  return g.hasSubgroups && g.adapter.subgroupSize === 8 ? ['tall', 'regblock', 'panel', 'tiled'] : ['tiled'];
}

function kernel(entry: string, variant: ConvVariant, overrides: Record<string, number> = {}): KernelSpec {
  const rb = variant !== 'tiled';
  // subgroupAll's result is uniform across the subgroup, which WGSL's uniformity analysis cannot see.
  const defines = { ENABLE: rb ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);' : '', RB_BEGIN: rb ? '' : '/*', RB_END: rb ? '' : '*/' };
  return { family: 'conv2d', entry, defines, overrides };
}

/** The gathered source and the destination of a launch: dy → dx for the input gradient (transposed), else x → y. */
function sides(g: ConvGeometry, transposed: boolean) {
  const [srcC, srcH, srcW, dstC, dstH, dstW] = transposed ? [g.o, g.ho, g.wo, g.c, g.h, g.w] : [g.c, g.h, g.w, g.o, g.ho, g.wo];
  return { srcC, srcH, srcW, dstC, dstH, dstW };
}

/** Shape constants of a launch. */
function shapeOverrides(g: ConvGeometry, transposed: boolean): Record<string, number> {
  const { srcC, srcH, srcW, dstC, dstH, dstW } = sides(g, transposed);
  return {
    BATCH: g.n, KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, PH: g.ph, PW: g.pw, DH: g.dh, DW: g.dw,
    TRANSPOSED: transposed ? 1 : 0,
    SRC_C: srcC, SRC_H: srcH, SRC_W: srcW, DST_C: dstC, DST_H: dstH, DST_W: dstW,
  };
}

type LayoutEntry = 'pack_weight' | 'pack_weight_vec4' | 'pack_pixels' | 'wgrad_sum' | 'wgrad_rows_sum' | 'unpack_pixels' | 'im2col_rows';

/** Re-layout kernels: one invocation per output element, on a flat grid unless `workgroups` is given. */
function launchLayout(entry: LayoutEntry, buffers: Record<string, GPUBufferBinding>, p: Record<string, number>, overrides: Record<string, number> = {}, workgroups?: [number, number, number]): void {
  const params = { rows: 0, rowsPad: 0, cols: 0, colsPad: 0, taps: 0, mode: 0, plane: 0, total: 0, start: 0, ...p };
  gpu().run(kernel(entry, 'tiled', overrides), buffers, params, workgroups ?? grid(Math.ceil(params.total / 64)));
}

interface PixelPacking {
  rows: number;
  cols: number;
  colsPad: number;
  plane: number;
  /** 32-channel panels [c / 32][rowsPad][32] instead of [pixel][colsPad]. */
  panels?: boolean;
  rowsPad?: number;
}

/** Activations [N, C, plane] → channels last (or 32-channel panels), zero padded to fill `out` (pack_pixels). */
function launchPackPixels(src: Tensor, out: Tensor, p: PixelPacking): void {
  const overrides = { PACK_PLANE: p.plane, PACK_COLS_PAD: p.colsPad, PACK_ROWS_PAD: p.rowsPad ?? 1 };
  const total = p.panels ? p.colsPad * p.rowsPad! : out.size;
  launchLayout('pack_pixels', { src: src.binding, dst: out.binding }, { rows: p.rows, cols: p.cols, mode: p.panels ? 2 : 0, total }, overrides);
}

/** Bytes of one uniform slice of a packed panel: 512 reduction rows × 32 columns (the 64 KiB binding limit). */
const SLICE_ROWS = 512;
const SLICE_BYTES = SLICE_ROWS * 32 * 4;

/**
 * The weights packed for a launch (see packWeight). The forward's packing is kept with the weight
 * (Tensor.derived) until the weight is written, so frozen and evaluated weights (the teacher, eval,
 * predict) are packed once; the input gradient's is used once per update and freed by the caller.
 */
function packedWeight(weight: Tensor, g: ConvGeometry, transposed: boolean, rowAlign: number, slack = 0): Tensor {
  if (transposed) return packWeight(weight, g, true, rowAlign, slack);
  return weight.derived(`conv forward packing ${rowAlign} ${slack}`, () => packWeight(weight, g, false, rowAlign, slack));
}

/** Frees a packing from packedWeight() unless the weight keeps it. */
function releasePacked(packed: Tensor, transposed: boolean): void {
  if (transposed) packed.dispose();
}

/**
 * Weights [O, C, kh, kw] → 32-column panels [cols / 32][tap][rows pad][32]: rows C, cols O (forward) or
 * rows O, cols C (input gradient). `slack` leaves room to bind a full uniform slice at the end.
 */
function packWeight(weight: Tensor, g: ConvGeometry, transposed: boolean, rowAlign: number, slack = 0): Tensor {
  const taps = g.kh * g.kw;
  const [rows, cols] = transposed ? [g.o, g.c] : [g.c, g.o];
  const rowsPad = roundUp(rows, rowAlign);
  const colsPad = roundUp(cols, 32);
  const total = taps * rowsPad * colsPad;
  const out = Tensor.empty([total + slack]);
  const params = { rows, rowsPad, cols, colsPad, taps, mode: transposed ? 1 : 0, total };
  const vec4 = transposed ? g.c % 4 === 0 : g.c % 4 === 0 && g.o % 4 === 0 && rowsPad === rows;
  if (vec4) {
    const workgroups: [number, number, number] = [Math.ceil(transposed ? rowsPad / 8 : (rows * taps) / 32), colsPad / 32, 1];
    launchLayout('pack_weight_vec4', { src: weight.binding, packed: weight.binding, dst4: out.binding }, params, { KH: g.kh, KW: g.kw }, workgroups);
    return out;
  }
  const workgroups: [number, number, number] = [Math.ceil(rowsPad / 8), colsPad / 32, 1];
  launchLayout('pack_weight', { src: weight.binding, dst: out.binding }, params, {}, workgroups);
  return out;
}

/** One dispatch of the uniform-panel GEMM: rows of A against a ≤ 512-row slice of one B panel. */
function panelDispatch(overrides: Record<string, number>, a: Tensor, b: Tensor, bRow: number, c: Tensor, slice: { kOffset: number; kCount: number; cOffset: number; accumulate: number }, workgroups: number): void {
  const buffers = { a4: a.binding, bPanel: b.bindRange(bRow * 128, SLICE_BYTES), dst4: c.binding };
  gpu().run(kernel('gemm_panel', 'panel', { ...overrides, WG_COUNT: workgroups }), buffers, slice, grid(workgroups));
}

/** Forward or input gradient with the panel GEMM: channels-last source, result unpacked to NCHW (+ bias). */
function launchPanelConv(g: ConvGeometry, transposed: boolean, src: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const { srcC, srcH, srcW, dstC, dstH, dstW } = sides(g, transposed);
  const srcCp = roundUp(srcC, 32);
  const dstCp = roundUp(dstC, 32);
  const srcPixels = g.n * srcH * srcW;
  const channelsLast = Tensor.empty([srcPixels * srcCp]);
  launchPackPixels(src, channelsLast, { rows: srcPixels, cols: srcC, colsPad: srcCp, plane: srcH * srcW });
  const packed = packedWeight(weight, g, transposed, 32, SLICE_BYTES / 4);
  const rows = g.n * dstH * dstW;
  const result = Tensor.empty([roundUp(rows, 8) * dstCp]);
  const kRows = g.kh * g.kw * srcCp;
  // 1×1, stride 1, no padding: destination pixel = source pixel, a plain GEMM (no gather).
  const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
  const overrides = { ...shapeOverrides(g, transposed), GATHER: pointwise ? 0 : 1, SRC_CP: srcCp, A_STRIDE: srcCp / 4, C_STRIDE: dstCp / 4 };
  for (let panel = 0; panel < dstCp / 32; panel++) {
    for (let k0 = 0; k0 < kRows; k0 += SLICE_ROWS) {
      const slice = { kOffset: k0, kCount: Math.min(SLICE_ROWS, kRows - k0), cOffset: panel * 8, accumulate: k0 > 0 ? 1 : 0 };
      panelDispatch(overrides, channelsLast, packed, panel * kRows + k0, result, slice, Math.ceil(rows / 8));
    }
  }
  const dst = Tensor.empty([g.n, dstC, dstH, dstW]);
  const unpack = { plane: dstH * dstW, cols: dstC, colsPad: dstCp, mode: bias ? 1 : 0, total: dst.size };
  launchLayout('unpack_pixels', { src: result.binding, bias: (bias ?? result).binding, dst: dst.binding }, unpack);
  [channelsLast, result].forEach((t) => t.dispose());
  releasePacked(packed, transposed);
  return dst;
}

/**
 * Weight gradient with the panel GEMM: dWᵀ[(tap, c)][o] = Σ_pixels im2col(x)ᵀ[(tap, c)][p] · dy[p][o], the
 * im2col made 512 pixels at a time, dy packed in 32-channel panels read as uniform slices.
 */
function launchPanelWeightGrad(g: ConvGeometry, x: Tensor, dy: Tensor): Tensor {
  const taps = g.kh * g.kw;
  const pixels = g.n * g.ho * g.wo;
  const pixelsPad = roundUp(pixels, 32);
  const oPad = roundUp(g.o, 32);
  const rows = taps * g.c;
  const rowsPad = roundUp(rows, 8);
  const dyPanels = Tensor.empty([oPad * pixelsPad + SLICE_BYTES / 4]);
  launchPackPixels(dy, dyPanels, { rows: pixels, rowsPad: pixelsPad, cols: g.o, colsPad: oPad, plane: g.ho * g.wo, panels: true });
  const chunk = Math.min(SLICE_ROWS, pixelsPad);
  const im2col = Tensor.empty([rowsPad * chunk]);
  const result = Tensor.empty([rowsPad * oPad]);
  const geometry = shapeOverrides(g, false);
  const overrides = { ...geometry, GATHER: 0, A_STRIDE: chunk / 4, C_STRIDE: oPad / 4 };
  for (let start = 0; start < pixelsPad; start += chunk) {
    launchLayout('im2col_rows', { src: x.binding, dst: im2col.binding }, { rows: chunk, start, total: im2col.size }, geometry);
    for (let panel = 0; panel < oPad / 32; panel++) {
      const slice = { kOffset: 0, kCount: Math.min(chunk, pixelsPad - start), cOffset: panel * 8, accumulate: start > 0 ? 1 : 0 };
      panelDispatch(overrides, im2col, dyPanels, panel * pixelsPad + start, result, slice, rowsPad / 8);
    }
  }
  const dw = Tensor.empty([g.o, g.c, g.kh, g.kw]);
  // The result is [tap][c][o pad]: wgrad_sum over a single chunk turns it into OIHW.
  launchLayout('wgrad_sum', { src: result.binding, dst: dw.binding }, { rows: g.c, rowsPad: g.c, cols: g.o, colsPad: oPad, taps, plane: 1, total: dw.size }, {}, [Math.ceil(g.o / 64), g.c, taps]);
  [dyPanels, im2col, result].forEach((t) => t.dispose());
  return dw;
}

/** Columns of a BLOCKED tile (BLOCK_W in the WGSL). */
const BLOCK_W = 4;

/**
 * Row blocks of the implicit GEMM and, for a strided input gradient on the register-blocked kernels,
 * the sub-pixel phase grid (see PHASED in the WGSL): a phase's tiles then skip its dead taps, which
 * are 3 of 4 at stride 2. Stride-1 convs padded by at least a block's width whose map divides into
 * blocks take 2-D tiles (BLOCKED), which skip the taps dead at the left and right edges too.
 */
function rowBlocking(variant: ConvVariant, g: ConvGeometry, transposed: boolean): { rowBlocks: number; phase: Record<string, number> } {
  const { dstH, dstW } = sides(g, transposed);
  const tileRows = tileRowsOf(variant);
  const phased = transposed && variant !== 'tiled' && (g.sh > 1 || g.sw > 1);
  const blockH = tileRows / BLOCK_W;
  const blocked = variant !== 'tiled' && g.sh === 1 && g.sw === 1 && g.pw >= BLOCK_W && dstW % BLOCK_W === 0 && dstH % blockH === 0;
  if (blocked) return { rowBlocks: (g.n * dstH * dstW) / tileRows, phase: { BLOCKED: 1 } };
  if (!phased) return { rowBlocks: Math.ceil((g.n * dstH * dstW) / tileRows), phase: {} };
  const phaseH = Math.ceil(dstH / g.sh);
  const phaseW = Math.ceil(dstW / g.sw);
  const phaseBlocks = Math.ceil((g.n * phaseH * phaseW) / tileRows);
  return { rowBlocks: g.sh * g.sw * phaseBlocks, phase: { PHASED: 1, PHASE_H: phaseH, PHASE_W: phaseW, PHASE_BLOCKS: phaseBlocks } };
}

/** Forward (x → y) or input gradient (dy → dx): destination pixels × channels, reduced over taps × source channels. */
function launchImplicitGemm(variant: ConvVariant, g: ConvGeometry, transposed: boolean, src: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const { srcC, dstC, dstH, dstW } = sides(g, transposed);
  const packed = packedWeight(weight, g, transposed, 4);
  const dst = Tensor.empty([g.n, dstC, dstH, dstW]);
  const { rowBlocks, phase } = rowBlocking(variant, g, transposed);
  const colsPad = roundUp(dstC, 32);
  const workgroups = rowBlocks * (colsPad / 32);
  const overrides = {
    ...shapeOverrides(g, transposed),
    HAS_BIAS: bias ? 1 : 0,
    SRC_CP: roundUp(srcC, 4),
    COLS_P: colsPad,
    ROW_BLOCKS: rowBlocks,
    WG_COUNT: workgroups,
    TALL: variant === 'tall' ? 1 : 0,
    ...phase,
  };
  const entry = variant === 'tiled' ? 'igemm_tiled' : 'igemm_rb';
  const buffers = { src: src.binding, packed: packed.binding, bias: (bias ?? packed).binding, dst: dst.binding };
  gpu().run(kernel(entry, variant, overrides), buffers, {}, grid(workgroups));
  releasePacked(packed, transposed);
  return dst;
}

/** Reduction chunks for the weight gradient: enough workgroups to fill the device, a fixed function of the shape. */
function weightGradChunks(g: ConvGeometry, variant: ConvVariant): { chunks: number; chunk: number } {
  const pixels = g.n * g.ho * g.wo;
  const taps = g.kh * g.kw;
  const blocked = variant !== 'tiled';
  const groups = (blocked ? Math.ceil((g.c * taps) / tileRowsOf(variant)) : taps * Math.ceil(g.c / 32)) * Math.ceil(g.o / 32);
  const target = blocked ? 64 : 256;
  const chunks = Math.max(1, Math.min(Math.ceil(target / groups), Math.ceil(pixels / 64)));
  const chunk = roundUp(Math.ceil(pixels / chunks), 4);
  return { chunks: Math.ceil(pixels / chunk), chunk };
}

/** dy packed as [pixel pad][out channel pad 32] for the weight-gradient GEMMs. */
function packDy(g: ConvGeometry, dy: Tensor, pixelsPad: number, colsPad: number): Tensor {
  const packedDy = Tensor.empty([pixelsPad * colsPad]);
  launchPackPixels(dy, packedDy, { rows: g.n * g.ho * g.wo, cols: g.o, colsPad, plane: g.ho * g.wo });
  return packedDy;
}

/**
 * Weight gradient with the register-blocked kernels: tiles of 8 or 16 rows (c, tap), one tap per tile
 * when the channels fill whole tiles (see TAP_TILES in the WGSL), partial sums per chunk as
 * [chunk][o][c][tap]; a single chunk is dW itself.
 */
function launchRegblockWeightGrad(variant: 'regblock' | 'tall', g: ConvGeometry, x: Tensor, dy: Tensor): Tensor {
  const rows = g.c * g.kh * g.kw;
  const tileRows = tileRowsOf(variant);
  const tapTiles = g.c % tileRows === 0;
  const rowTiles = tapTiles ? (g.kh * g.kw * g.c) / tileRows : Math.ceil(rows / tileRows);
  const { chunks, chunk } = weightGradChunks(g, variant);
  const colsPad = roundUp(g.o, 32);
  const packedDy = packDy(g, dy, chunks * chunk, colsPad);
  const dw = Tensor.empty([g.o, g.c, g.kh, g.kw]);
  const partial = chunks === 1 ? dw : Tensor.empty([chunks * g.o * rows]);
  const workgroups = chunks * rowTiles * (colsPad / 32);
  const overrides = {
    ...shapeOverrides(g, false),
    COLS_P: colsPad,
    P_CHUNK: chunk,
    ROW_BLOCKS: rowTiles,
    WG_COUNT: workgroups,
    TALL: variant === 'tall' ? 1 : 0,
    TAP_TILES: tapTiles ? 1 : 0,
  };
  gpu().run(kernel('wgrad_rb', variant, overrides), { src: x.binding, packed: packedDy.binding, dst: partial.binding }, {}, grid(workgroups));
  packedDy.dispose();
  if (chunks === 1) return dw;
  launchLayout('wgrad_rows_sum', { src: partial.binding, dst: dw.binding }, { rows, rowsPad: rows, cols: g.o, plane: chunks, total: dw.size }, {}, [Math.ceil(rows / 64), g.o, 1]);
  partial.dispose();
  return dw;
}

/** Weight gradient with the shared-memory kernel: partial sums per chunk as [chunk][tap][c pad][o pad]. */
function launchTiledWeightGrad(g: ConvGeometry, x: Tensor, dy: Tensor): Tensor {
  const taps = g.kh * g.kw;
  const { chunks, chunk } = weightGradChunks(g, 'tiled');
  const colsPad = roundUp(g.o, 32);
  const cPad = roundUp(g.c, 32);
  const packedDy = packDy(g, dy, chunks * chunk, colsPad);
  const partial = Tensor.empty([chunks * taps * cPad * colsPad]);
  const workgroups = chunks * taps * (cPad / 32) * (colsPad / 32);
  const overrides = { ...shapeOverrides(g, false), COLS_P: colsPad, C_PAD: cPad, P_CHUNK: chunk, WG_COUNT: workgroups };
  gpu().run(kernel('wgrad_tiled', 'tiled', overrides), { src: x.binding, packed: packedDy.binding, dst4: partial.binding }, {}, grid(workgroups));
  const dw = Tensor.empty([g.o, g.c, g.kh, g.kw]);
  launchLayout('wgrad_sum', { src: partial.binding, dst: dw.binding }, { rows: g.c, rowsPad: cPad, cols: g.o, colsPad, taps, plane: chunks, total: dw.size }, {}, [Math.ceil(g.o / 64), g.c, taps]);
  packedDy.dispose();
  partial.dispose();
  return dw;
}

function geometryKey(g: ConvGeometry): string {
  return `n${g.n} c${g.c} ${g.h}x${g.w} o${g.o} k${g.kh}x${g.kw} s${g.sh},${g.sw} p${g.ph},${g.pw} d${g.dh},${g.dw}`;
}

/** Random-free scratch inputs for timing one direction of one geometry. */
function directionTrial(direction: ConvDirection, g: ConvGeometry, variant: ConvVariant): Trial {
  const x = Tensor.empty([g.n, g.c, g.h, g.w]);
  const w = Tensor.empty([g.o, g.c, g.kh, g.kw]);
  const dy = Tensor.empty([g.n, g.o, g.ho, g.wo]);
  // The operands launchDirection takes: forward(x, w), input(dy, w), weight(x, dy).
  const [a, b] = direction === 'forward' ? [x, w] : direction === 'input' ? [dy, w] : [x, dy];
  return {
    run: () => launchDirection(direction, variant, g, a, b, null).dispose(),
    dispose: () => [x, w, dy].forEach((t) => t.dispose()),
  };
}

/** Runs one direction with a given variant: forward(x, w, b), input(dy, w), weight(x, dy). */
export function launchDirection(direction: ConvDirection, variant: ConvVariant, g: ConvGeometry, a: Tensor, b: Tensor, bias: Tensor | null): Tensor {
  if (variant === 'panel') {
    if (direction === 'weight') return launchPanelWeightGrad(g, a, b);
    return launchPanelConv(g, direction === 'input', a, b, direction === 'forward' ? bias : null);
  }
  if (direction === 'forward') return launchImplicitGemm(variant, g, false, a, b, bias);
  if (direction === 'input') return launchImplicitGemm(variant, g, true, a, b, null);
  return variant === 'tiled' ? launchTiledWeightGrad(g, a, b) : launchRegblockWeightGrad(variant, g, a, b);
}

/** The variant for one direction of a geometry: forced by CSG_CONV_VARIANT, tuned, or the default. */
export function convVariant(direction: ConvDirection, g: ConvGeometry): ConvVariant {
  return chooseVariant({
    op: 'conv',
    key: `${direction} ${geometryKey(g)}`,
    variants: convVariants(),
    trial: (variant) => directionTrial(direction, g, variant as ConvVariant),
  }) as ConvVariant;
}

interface ConvAttrs {
  geometry: ConvGeometry;
}

const conv2dOp = defineOp<ConvAttrs>({
  name: 'conv2d',
  reads: { inputs: [0, 1], out: false },
  forward: ([x, weight, bias], { geometry: g }) => ({
    out: launchDirection('forward', convVariant('forward', g), g, x!, weight!, bias ?? null),
  }),
  // Only the gradients someone asked for: the stem's input gradient (the image) is the costliest of all.
  backward: ({ grad, inputs: [x, weight, bias], attrs: { geometry: g } }) => {
    const dx = x!.requiresGrad ? launchDirection('input', convVariant('input', g), g, grad, weight!, null) : null;
    const dw = weight!.requiresGrad ? launchDirection('weight', convVariant('weight', g), g, x!, grad, null) : null;
    if (!bias?.requiresGrad) return bias ? [dx, dw, null] : [dx, dw];
    const rows = grad.view([g.n, g.o, g.ho * g.wo]);
    const perImage = sum(rows, 2);
    const db = sum(perImage, 0);
    rows.dispose();
    perImage.dispose();
    return [dx, dw, db];
  },
});

// x [N, C, H, W], weight [O, C, kh, kw], bias [O] | null → [N, O, Ho, Wo]
/** 2-D convolution as torch.nn.functional.conv2d: x [N, C, H, W], weight [O, C, kh, kw], bias [O] or null. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  assertDtype(x, 'f32', 'conv2d input');
  assertDtype(weight, 'f32', 'conv2d weight');
  const geometry = convGeometry(x.shape, weight.shape, options);
  if (bias) {
    assertDtype(bias, 'f32', 'conv2d bias');
    if (bias.rank !== 1 || bias.shape[0] !== geometry.o) throw new TensorError(`conv2d: bias must be [${geometry.o}], got ${shapeStr(bias.shape)}`);
  }
  const live = liveTaps(geometry);
  if (live) {
    // A dilated kernel whose outer taps read only padding (ASPP's dilation 12–36 on a small map):
    // convolve with the taps that can see the image, an exact and much smaller product. Off the
    // tape the live taps are kept with the weight until it is written (not copied out per call).
    const window = `conv live taps ${live.h} ${live.w}`;
    const taps = recordsGradient([weight]) ? liveWeight(weight, geometry, live) : weight.derived(window, () => liveWeight(weight, geometry, live));
    const g = convGeometry(x.shape, taps.shape, { stride: [geometry.sh, geometry.sw], padding: live.padding, dilation: [geometry.dh, geometry.dw] });
    return conv2dOp(bias ? [x, taps, bias] : [x, taps], { geometry: g });
  }
  return conv2dOp(bias ? [x, weight, bias] : [x, weight], { geometry });
}

/**
 * The live taps' weights [O, C, kh', kw']. When they are contiguous in the flattened kh·kw axis (one
 * row of taps, e.g. ASPP's centre tap, or whole rows) one slab copy of a reshaped view takes them;
 * else two narrows. Intermediates off the tape are freed here; on it, with the step's scope.
 */
function liveWeight(weight: Tensor, g: ConvGeometry, live: { h: [number, number]; w: [number, number] }): Tensor {
  const kh = live.h[1] - live.h[0] + 1;
  const kw = live.w[1] - live.w[0] + 1;
  const steps: Tensor[] = [];
  let taps: Tensor;
  if (kh === 1 || kw === g.kw) {
    steps.push(reshape(weight, [g.o, g.c, g.kh * g.kw]));
    steps.push(narrow(steps[0]!, 2, live.h[0] * g.kw + live.w[0], (kh - 1) * g.kw + kw));
    taps = reshape(steps[1]!, [g.o, g.c, kh, kw]);
  } else {
    steps.push(narrow(weight, 2, live.h[0], kh));
    taps = narrow(steps[0]!, 3, live.w[0], kw);
  }
  for (const t of steps) if (!t.requiresGrad) t.dispose();
  return taps;
}

/** Kernel taps along one axis that read at least one input pixel for some output position. */
function tapRange(k: number, d: number, s: number, p: number, size: number, out: number): [number, number] | null {
  const reads = (i: number) => {
    for (let y = 0; y < out; y++) {
      const at = y * s + i * d - p;
      if (at >= 0 && at < size) return true;
    }
    return false;
  };
  let lo = 0;
  while (lo < k && !reads(lo)) lo++;
  let hi = k - 1;
  while (hi > lo && !reads(hi)) hi--;
  return lo < k ? [lo, hi] : null;
}

/**
 * The sub-kernel of live taps, when it is smaller than the kernel and removing the dead taps keeps
 * the convolution's geometry (same output size, non-negative padding); else null.
 */
function liveTaps(g: ConvGeometry): { h: [number, number]; w: [number, number]; padding: [number, number] } | null {
  const h = tapRange(g.kh, g.dh, g.sh, g.ph, g.h, g.ho);
  const w = tapRange(g.kw, g.dw, g.sw, g.pw, g.w, g.wo);
  if (!h || !w || (h[0] === 0 && h[1] === g.kh - 1 && w[0] === 0 && w[1] === g.kw - 1)) return null;
  const padding: [number, number] = [g.ph - h[0] * g.dh, g.pw - w[0] * g.dw];
  if (padding[0] < 0 || padding[1] < 0) return null;
  const kh = h[1] - h[0] + 1;
  const kw = w[1] - w[0] + 1;
  const ho = Math.floor((g.h + 2 * padding[0] - g.dh * (kh - 1) - 1) / g.sh) + 1;
  const wo = Math.floor((g.w + 2 * padding[1] - g.dw * (kw - 1) - 1) / g.sw) + 1;
  return ho === g.ho && wo === g.wo ? { h, w, padding } : null;
}
