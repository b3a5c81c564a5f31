// 2-D convolution (NCHW activations, OIHW weights) as implicit GEMM: no full im2col buffer, the
// activation operand is gathered tap by tap. Shapes are `override` constants so the JIT folds them.
// Every reduction runs in a fixed order (no atomics): results are deterministic.
//
// Four variants (src/ops/conv2d.ts picks one per adapter and shape by timing them, src/gpu/autotune.ts):
// - gemm_panel (section below the RB marker, needs subgroups): the uniform-panel GEMM described there;
//   forward and input gradient gather a channels-last copy of the source, the weight gradient
//   multiplies transposed im2col chunks of 512 pixels by dy. A 1×1 stride-1 conv is a plain GEMM (GATHER = false).
// - igemm_rb / wgrad_rb (needs subgroups): one 8-lane subgroup per workgroup, an 8×32 register tile
//   ("regblock") or a 16×32 one (TALL, "tall") read straight from NCHW storage, each lane gathers the
//   source of its own row(s) and spreads it with subgroupBroadcast (no shared memory, no re-layout of
//   the activations).
// - igemm_tiled / wgrad_tiled: 64 lanes sharing 32×32 tiles through workgroup memory (portable).
// igemm_*: forward (TRANSPOSED = false) and input gradient (TRANSPOSED = true, the gather form of the
//   transposed conv). Rows are the destination pixels, columns its channels, the reduction runs over
//   (tap, source channel) against weights packed by pack_weight(_vec4) into 32-column panels.
//   Strided input gradients group their rows by sub-pixel phase on igemm_rb (PHASED), and igemm_rb
//   skips a tap that reads only padding for a whole tile.
// wgrad_*: rows are (input channel, tap) pairs, columns output channels, the reduction runs over output
//   pixels in fixed chunks against dy packed by pack_pixels as [pixel][out channel pad 32]. wgrad_rb
//   writes OIHW partials (tiles of one tap when the channels fill them, TAP_TILES), summed in chunk
//   order by wgrad_rows_sum; wgrad_tiled writes [chunk][tap][c][o] partials, summed by wgrad_sum.
{{ENABLE}}

// #include grid-index

override TRANSPOSED: bool = false;
override HAS_BIAS: bool = false;
override BATCH: u32 = 1u;
// Gathered (source) tensor [BATCH, SRC_C, SRC_H, SRC_W] and the destination [BATCH, DST_C, DST_H, DST_W].
override SRC_C: u32 = 1u;
override SRC_H: u32 = 1u;
override SRC_W: u32 = 1u;
override DST_C: u32 = 1u;
override DST_H: u32 = 1u;
override DST_W: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override SH: i32 = 1;
override SW: i32 = 1;
override PH: i32 = 0;
override PW: i32 = 0;
override DH: i32 = 1;
override DW: i32 = 1;
// Packed operand row lengths: reduction channels padded to 4, columns padded to 32.
override SRC_CP: u32 = 4u;
override COLS_P: u32 = 32u;
// Workgroups along the rows (the rest of the flat workgroup index picks the column panel / chunk).
override ROW_BLOCKS: u32 = 1u;
// Workgroups doing work (the dispatch grid may hold a few more).
override WG_COUNT: u32 = 1u;
// Weight gradient: output pixels per chunk (a multiple of 4) and channels padded to 32.
override P_CHUNK: u32 = 4u;
override C_PAD: u32 = 32u;
// Tile rows of the register-blocked kernels: 8, or 16 when TALL (lane l gathers rows l and l + 8, so
// each load of B feeds twice the multiply-adds; the 16 × 32 accumulators no longer fit lavapipe's
// registers, yet the spills cost less than the loads they save).
override TALL: bool = false;
// igemm_rb, input gradient with stride > 1 (PHASED): the row blocks are grouped by sub-pixel phase
// (y mod SH, x mod SW), PHASE_BLOCKS per phase, each phase's pixels (n, y / SH, x / SW) on a
// PHASE_H × PHASE_W grid padded to whole tiles, so that a tile's taps are live or dead all together.
override PHASED: bool = false;
override PHASE_H: u32 = 1u;
override PHASE_W: u32 = 1u;
override PHASE_BLOCKS: u32 = 1u;
// igemm_rb, BLOCKED: a tile is a block of BLOCK_W columns × (tile rows / BLOCK_W) rows of one image
// (the map divides into whole blocks) instead of consecutive pixels, so that a tap reading only
// padding at the left or right edge is dead for whole tiles too (dilated convs on small maps: the
// ASPP's d12 tap at 16×16 is live for half the pixels of a row tile, a quarter of the blocks).
override BLOCKED: bool = false;
const BLOCK_W: u32 = 4u;

struct PackParams {
  rows: u32,      // real rows of the packed matrix per tap (or pixels)
  rowsPad: u32,
  cols: u32,      // real columns
  colsPad: u32,
  taps: u32,
  mode: u32,      // pack_weight: 1 packs rows o, columns c (input gradient); unpack_pixels: 1 adds bias
  plane: u32,     // pack_pixels: pixels per image; wgrad_sum: chunks
  total: u32,     // packed elements
  start: u32,     // im2col_rows: first pixel of the chunk
}

@group(0) @binding(0) var<uniform> params: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> packed: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst4: array<vec4<f32>>;

@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;

var<workgroup> tileA: array<vec4<f32>, 32>;
var<workgroup> tileB: array<vec4<f32>, 32>;

// Source coordinate feeding destination coordinate `pos` through kernel tap `k`, or -1 (padding, or
// for the transposed gather a position the stride skips).
fn source_coord(pos: i32, k: i32, stride: i32, pad: i32, dil: i32, size: u32) -> i32 {
  if (TRANSPOSED) {
    let t = pos + pad - k * dil;
    let q = t / stride;
    return select(-1, q, t >= 0 && q * stride == t && q < i32(size));
  }
  let q = pos * stride - pad + k * dil;
  return select(-1, q, q >= 0 && q < i32(size));
}

struct Pixel {
  n: u32,
  y: u32,
  x: u32,
}

fn dst_pixel(row: u32) -> Pixel {
  let plane = DST_H * DST_W;
  let pix = row % plane;
  return Pixel(row / plane, pix / DST_W, pix % DST_W);
}

// Offset of the source pixel a destination pixel reads through tap (ky, kx) in channel 0, or -1.
fn tap_offset(p: Pixel, ky: u32, kx: u32) -> i32 {
  let sy = source_coord(i32(p.y), i32(ky), SH, PH, DH, SRC_H);
  let sx = source_coord(i32(p.x), i32(kx), SW, PW, DW, SRC_W);
  let at = i32((p.n * SRC_C * SRC_H + u32(max(sy, 0))) * SRC_W + u32(max(sx, 0)));
  return select(-1, at, sy >= 0 && sx >= 0);
}

// Four consecutive source channels from c at a tap offset (zeros in padding; channels past the end
// are clamped: their packed weights are zero).
fn gather4(at: i32, c: u32) -> vec4<f32> {
  let base = u32(max(at, 0));
  let plane = SRC_H * SRC_W;
  let v = vec4<f32>(
    src[base + min(c, SRC_C - 1u) * plane],
    src[base + min(c + 1u, SRC_C - 1u) * plane],
    src[base + min(c + 2u, SRC_C - 1u) * plane],
    src[base + min(c + 3u, SRC_C - 1u) * plane]);
  return select(vec4<f32>(0.0), v, at >= 0);
}

// Weight-gradient workgroup: (chunk, tap, channel block of `rows`, 32-column panel), from the flat index.
struct WgradBlock {
  chunk: u32,
  ky: u32,
  kx: u32,
  cBlock: u32,
  panel: u32,
}

fn wgrad_block(index: u32, rows: u32) -> WgradBlock {
  var flat = index;
  let panel = flat % (COLS_P / 32u);
  flat /= COLS_P / 32u;
  let cBlock = flat % (C_PAD / rows);
  flat /= C_PAD / rows;
  let tap = flat % (KH * KW);
  return WgradBlock(flat / (KH * KW), tap / KW, tap % KW, cBlock, panel);
}

// Channel c of x at the source pixels of output pixels q .. q + 3 through tap (ky, kx); zeros in padding.
fn gather_pixels(q: u32, ky: u32, kx: u32, c: u32) -> vec4<f32> {
  var a: vec4<f32>;
  for (var j = 0u; j < 4u; j++) {
    let at = tap_offset(dst_pixel(min(q + j, BATCH * DST_H * DST_W - 1u)), ky, kx);
    a[j] = select(0.0, src[u32(max(at, 0)) + c * SRC_H * SRC_W], at >= 0);
  }
  return a;
}

// The bias of a lane's 4 columns (zeros without one), read once per tile rather than once per pixel:
// on lavapipe every storage load at a per-lane address is a loop over the lanes.
fn column_bias(colVec: u32) -> vec4<f32> {
  var b = vec4<f32>(0.0);
  if (HAS_BIAS) {
    for (var j = 0u; j < 4u; j++) { b[j] = bias[min(colVec * 4u + j, DST_C - 1u)]; }
  }
  return b;
}

// Writes this lane's 4 columns of destination pixel p (when it exists); v already holds the bias.
fn write_pixel(p: Pixel, live: bool, colVec: u32, v: vec4<f32>) {
  if (!live) { return; }
  let plane = DST_H * DST_W;
  let pix = p.y * DST_W + p.x;
  for (var j = 0u; j < 4u; j++) {
    let col = colVec * 4u + j;
    if (col < DST_C) {
      dst[(p.n * DST_C + col) * plane + pix] = v[j];
    }
  }
}

fn write_dst(row: u32, colVec: u32, v: vec4<f32>) {
  write_pixel(dst_pixel(min(row, BATCH * DST_H * DST_W - 1u)), row < BATCH * DST_H * DST_W, colVec, v);
}

// Destination pixel of row i of a register-blocked tile (clamped to an existing one) and whether it
// exists; see PHASED for the row order of strided input gradients.
struct TilePixel {
  p: Pixel,
  live: bool,
}

fn tile_pixel(rowBlock: u32, tileRows: u32, i: u32) -> TilePixel {
  if (BLOCKED) {
    let blockH = tileRows / BLOCK_W;
    let blocksW = DST_W / BLOCK_W;
    let blocks = blocksW * (DST_H / blockH);
    let b = rowBlock % blocks;
    return TilePixel(Pixel(rowBlock / blocks, (b / blocksW) * blockH + i / BLOCK_W, (b % blocksW) * BLOCK_W + i % BLOCK_W), true);
  }
  if (!PHASED) {
    let row = rowBlock * tileRows + i;
    return TilePixel(dst_pixel(min(row, BATCH * DST_H * DST_W - 1u)), row < BATCH * DST_H * DST_W);
  }
  let phase = rowBlock / PHASE_BLOCKS;
  let r = (rowBlock % PHASE_BLOCKS) * tileRows + i;
  let n = r / (PHASE_H * PHASE_W);
  let y = ((r / PHASE_W) % PHASE_H) * u32(SH) + phase / u32(SW);
  let x = (r % PHASE_W) * u32(SW) + phase % u32(SW);
  let live = n < BATCH && y < DST_H && x < DST_W;
  return TilePixel(Pixel(min(n, BATCH - 1u), min(y, DST_H - 1u), min(x, DST_W - 1u)), live);
}

// PHASED: whether tap k reaches destination positions ≡ ph (mod stride) at all (the transposed
// gather's source position (pos + pad − k·dil) / stride must be whole).
fn phase_tap(ph: u32, k: u32, stride: i32, pad: i32, dil: i32) -> bool {
  return (((i32(ph) + pad - i32(k) * dil) % stride) + stride) % stride == 0;
}

// ---- register-blocked subgroup variant --------------------------------------------------------

{{RB_BEGIN}}
// acc[r] += (lane r's a) * b for the 8 rows of the tile.
fn spread(acc: ptr<function, array<vec4<f32>, 8>>, a: f32, b: vec4<f32>) {
  (*acc)[0] += subgroupBroadcast(a, 0u) * b;
  (*acc)[1] += subgroupBroadcast(a, 1u) * b;
  (*acc)[2] += subgroupBroadcast(a, 2u) * b;
  (*acc)[3] += subgroupBroadcast(a, 3u) * b;
  (*acc)[4] += subgroupBroadcast(a, 4u) * b;
  (*acc)[5] += subgroupBroadcast(a, 5u) * b;
  (*acc)[6] += subgroupBroadcast(a, 6u) * b;
  (*acc)[7] += subgroupBroadcast(a, 7u) * b;
}

@compute @workgroup_size(8)
fn igemm_rb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let panel = flat / ROW_BLOCKS;
  let rowBlock = flat % ROW_BLOCKS;
  let tileRows = select(8u, 16u, TALL);
  let phase = rowBlock / PHASE_BLOCKS;
  let p = tile_pixel(rowBlock, tileRows, lane).p;
  let pHigh = tile_pixel(rowBlock, tileRows, 8u + lane).p;
  let colVec = panel * 8u + lane;
  var acc: array<vec4<f32>, 8>;
  var accHigh: array<vec4<f32>, 8>;
  for (var ky = 0u; ky < KH; ky++) {
    if (PHASED && !phase_tap(phase / u32(SW), ky, SH, PH, DH)) { continue; }
    for (var kx = 0u; kx < KW; kx++) {
      if (PHASED && !phase_tap(phase % u32(SW), kx, SW, PW, DW)) { continue; }
      let at = tap_offset(p, ky, kx);
      let atHigh = tap_offset(pHigh, ky, kx);
      // A tap that reads only padding for the whole tile adds nothing (dilated taps on small maps).
      if (subgroupAll(at < 0 && (!TALL || atHigh < 0))) { continue; }
      var w = ((panel * KH + ky) * KW + kx) * SRC_CP * 8u + lane;
      for (var c = 0u; c < SRC_C; c += 4u) {
        let a = gather4(at, c);
        let b0 = packed[w];
        let b1 = packed[w + 8u];
        let b2 = packed[w + 16u];
        let b3 = packed[w + 24u];
        spread(&acc, a.x, b0);
        spread(&acc, a.y, b1);
        spread(&acc, a.z, b2);
        spread(&acc, a.w, b3);
        if (TALL) {
          let aHigh = gather4(atHigh, c);
          spread(&accHigh, aHigh.x, b0);
          spread(&accHigh, aHigh.y, b1);
          spread(&accHigh, aHigh.z, b2);
          spread(&accHigh, aHigh.w, b3);
        }
        w += 32u;
      }
    }
  }
  let b = column_bias(colVec);
  for (var r = 0u; r < 8u; r++) {
    let t = tile_pixel(rowBlock, tileRows, r);
    write_pixel(t.p, t.live, colVec, acc[r] + b);
    if (TALL) {
      let tHigh = tile_pixel(rowBlock, tileRows, 8u + r);
      write_pixel(tHigh.p, tHigh.live, colVec, accHigh[r] + b);
    }
  }
}

// A row of the weight gradient is (input channel c, tap), numbered c·KH·KW + tap as in OIHW. With
// TAP_TILES a tile holds one tap and 8 or 16 consecutive channels: the source offsets of a pixel are
// then the same for every lane (only the channel differs) and a pixel quad that reads only padding
// through the tap is skipped (dilated taps on small maps). Without it (channels fewer than a tile, the
// stem's 3) a tile holds consecutive rows, so no lane idles.
override TAP_TILES: bool = false;

// Row i of tile `tile` as (c, tap, and whether the row exists).
fn wgrad_row(tile: u32, tileRows: u32, i: u32) -> vec3<u32> {
  var c: u32;
  var tap: u32;
  if (TAP_TILES) {
    let cBlocks = (SRC_C + tileRows - 1u) / tileRows;
    c = (tile % cBlocks) * tileRows + i;
    tap = tile / cBlocks;
  } else {
    let row = tile * tileRows + i;
    c = row / (KH * KW);
    tap = row % (KH * KW);
  }
  return vec3<u32>(min(c, SRC_C - 1u), tap % (KH * KW), select(0u, 1u, c < SRC_C && tap < KH * KW));
}

// Source offsets (channel 0) of output pixels q .. q + 3 through a tap, −1 in padding.
fn quad_offsets(q: u32, tap: u32) -> vec4<i32> {
  let last = BATCH * DST_H * DST_W - 1u;
  let ky = tap / KW;
  let kx = tap % KW;
  return vec4<i32>(tap_offset(dst_pixel(min(q, last)), ky, kx), tap_offset(dst_pixel(min(q + 1u, last)), ky, kx),
                   tap_offset(dst_pixel(min(q + 2u, last)), ky, kx), tap_offset(dst_pixel(min(q + 3u, last)), ky, kx));
}

fn quad_values(at: vec4<i32>, c: u32) -> vec4<f32> {
  let base = vec4<u32>(max(at, vec4<i32>(0))) + c * SRC_H * SRC_W;
  return select(vec4<f32>(0.0), vec4<f32>(src[base.x], src[base.y], src[base.z], src[base.w]), at >= vec4<i32>(0));
}

// Workgroup = (chunk, row tile, 32-column panel); lane l = rows l (and l + 8) of the tile. Writes the
// chunk's dW as [chunk][o][c][tap], OIHW itself for a single chunk (no transposing pass).
@compute @workgroup_size(8)
fn wgrad_rb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let tileRows = select(8u, 16u, TALL);
  let panels = COLS_P / 32u;
  let panel = flat % panels;
  let tile = (flat / panels) % ROW_BLOCKS;
  let chunk = flat / (panels * ROW_BLOCKS);
  let row = wgrad_row(tile, tileRows, lane);
  let rowHigh = wgrad_row(tile, tileRows, 8u + lane);
  let rowVecs = COLS_P / 4u;
  let colVec = panel * 8u + lane;
  var acc: array<vec4<f32>, 8>;
  var accHigh: array<vec4<f32>, 8>;
  for (var q = chunk * P_CHUNK; q < (chunk + 1u) * P_CHUNK; q += 4u) {
    let at = quad_offsets(q, row.y);
    let atHigh = quad_offsets(q, rowHigh.y);
    if (subgroupAll(all(at < vec4<i32>(0)) && (!TALL || all(atHigh < vec4<i32>(0))))) { continue; }
    let a = quad_values(at, row.x);
    let w = q * rowVecs + colVec;
    let b0 = packed[w];
    let b1 = packed[w + rowVecs];
    let b2 = packed[w + 2u * rowVecs];
    let b3 = packed[w + 3u * rowVecs];
    spread(&acc, a.x, b0);
    spread(&acc, a.y, b1);
    spread(&acc, a.z, b2);
    spread(&acc, a.w, b3);
    if (TALL) {
      let aHigh = quad_values(atHigh, rowHigh.x);
      spread(&accHigh, aHigh.x, b0);
      spread(&accHigh, aHigh.y, b1);
      spread(&accHigh, aHigh.z, b2);
      spread(&accHigh, aHigh.w, b3);
    }
  }
  for (var r = 0u; r < 8u; r++) {
    let low = wgrad_row(tile, tileRows, r);
    let high = wgrad_row(tile, tileRows, 8u + r);
    for (var j = 0u; j < 4u; j++) {
      let o = colVec * 4u + j;
      if (o < DST_C) {
        let out = (chunk * DST_C + o) * SRC_C * KH * KW;
        if (low.z != 0u) { dst[out + low.x * KH * KW + low.y] = acc[r][j]; }
        if (TALL && high.z != 0u) { dst[out + high.x * KH * KW + high.y] = accHigh[r][j]; }
      }
    }
  }
}
// ---- uniform-panel variant: the GEMM that is fastest on lavapipe -----------------------------------
// C[rows][cols] (+)= A[rows][k] · B[k][cols] for one 32-column panel and one slice of ≤ 512 reduction
// rows, one dispatch each. B (packed weights, or an im2col chunk for the weight gradient) is bound as
// a 64 KiB UNIFORM slice: lavapipe reads uniforms at per-lane offsets without the per-lane loop and
// bounds branches of a storage load. A is channels-last ([pixel][channel pad 32], or dy as
// [out channel][pixel]); lane l loads the vec4 of reduction values 4l..4l+3 of each of the 8 rows of
// the tile once per 32 reduction rows and spreads them with subgroupBroadcast at constant lanes.
// GATHER: the rows are destination pixels reading A through a kernel tap (forward, input gradient).
override GATHER: bool = true;
override A_STRIDE: u32 = 8u;  // vec4s per row of A
override C_STRIDE: u32 = 8u;  // vec4s per row of C

struct Slice {
  kOffset: u32,     // first reduction row of this slice
  kCount: u32,      // reduction rows in it (a multiple of 32, at most 512)
  cOffset: u32,     // vec4 column of C where this panel starts
  accumulate: u32,  // 0: write C, 1: add to it
}

@group(0) @binding(7) var<uniform> slice: Slice;
@group(0) @binding(8) var<uniform> bPanel: array<vec4<f32>, 4096>;

// This lane's vec4 of A for result row `row` at reduction row k (a multiple of 32); zeros in padding.
fn a_load(row: u32, k: u32, lane: u32) -> vec4<f32> {
  if (GATHER) {
    let tap = k / SRC_CP;
    let p = dst_pixel(min(row, BATCH * DST_H * DST_W - 1u));
    let sy = source_coord(i32(p.y), i32(tap / KW), SH, PH, DH, SRC_H);
    let sx = source_coord(i32(p.x), i32(tap % KW), SW, PW, DW, SRC_W);
    let at = ((p.n * SRC_H + u32(max(sy, 0))) * SRC_W + u32(max(sx, 0))) * A_STRIDE + (k % SRC_CP) / 4u + lane;
    return select(vec4<f32>(0.0), a4[at], sy >= 0 && sx >= 0);
  }
  return a4[row * A_STRIDE + k / 4u + lane];
}

// Four reduction steps of the 8×32 tile: row r's four A values are the components of s_r, the B rows
// are b, b + 8, b + 16, b + 24 (vec4 index of this lane's columns).
fn panel_quad(acc: ptr<function, array<vec4<f32>, 8>>, s0: vec4<f32>, s1: vec4<f32>, s2: vec4<f32>, s3: vec4<f32>,
              s4: vec4<f32>, s5: vec4<f32>, s6: vec4<f32>, s7: vec4<f32>, b: u32) {
  let b0 = bPanel[b];
  let b1 = bPanel[b + 8u];
  let b2 = bPanel[b + 16u];
  let b3 = bPanel[b + 24u];
  (*acc)[0] += s0.x * b0 + s0.y * b1 + s0.z * b2 + s0.w * b3;
  (*acc)[1] += s1.x * b0 + s1.y * b1 + s1.z * b2 + s1.w * b3;
  (*acc)[2] += s2.x * b0 + s2.y * b1 + s2.z * b2 + s2.w * b3;
  (*acc)[3] += s3.x * b0 + s3.y * b1 + s3.z * b2 + s3.w * b3;
  (*acc)[4] += s4.x * b0 + s4.y * b1 + s4.z * b2 + s4.w * b3;
  (*acc)[5] += s5.x * b0 + s5.y * b1 + s5.z * b2 + s5.w * b3;
  (*acc)[6] += s6.x * b0 + s6.y * b1 + s6.z * b2 + s6.w * b3;
  (*acc)[7] += s7.x * b0 + s7.y * b1 + s7.z * b2 + s7.w * b3;
}

@compute @workgroup_size(8)
fn gemm_panel(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let row0 = flat * 8u;
  var acc: array<vec4<f32>, 8>;
  for (var kb = 0u; kb < slice.kCount; kb += 32u) {
    let k = slice.kOffset + kb;
    let a0 = a_load(row0, k, lane);
    let a1 = a_load(row0 + 1u, k, lane);
    let a2 = a_load(row0 + 2u, k, lane);
    let a3 = a_load(row0 + 3u, k, lane);
    let a4v = a_load(row0 + 4u, k, lane);
    let a5 = a_load(row0 + 5u, k, lane);
    let a6 = a_load(row0 + 6u, k, lane);
    let a7 = a_load(row0 + 7u, k, lane);
    let b = kb * 8u + lane;
    panel_quad(&acc, subgroupBroadcast(a0, 0u), subgroupBroadcast(a1, 0u), subgroupBroadcast(a2, 0u), subgroupBroadcast(a3, 0u), subgroupBroadcast(a4v, 0u), subgroupBroadcast(a5, 0u), subgroupBroadcast(a6, 0u), subgroupBroadcast(a7, 0u), b + 0u);
    panel_quad(&acc, subgroupBroadcast(a0, 1u), subgroupBroadcast(a1, 1u), subgroupBroadcast(a2, 1u), subgroupBroadcast(a3, 1u), subgroupBroadcast(a4v, 1u), subgroupBroadcast(a5, 1u), subgroupBroadcast(a6, 1u), subgroupBroadcast(a7, 1u), b + 32u);
    panel_quad(&acc, subgroupBroadcast(a0, 2u), subgroupBroadcast(a1, 2u), subgroupBroadcast(a2, 2u), subgroupBroadcast(a3, 2u), subgroupBroadcast(a4v, 2u), subgroupBroadcast(a5, 2u), subgroupBroadcast(a6, 2u), subgroupBroadcast(a7, 2u), b + 64u);
    panel_quad(&acc, subgroupBroadcast(a0, 3u), subgroupBroadcast(a1, 3u), subgroupBroadcast(a2, 3u), subgroupBroadcast(a3, 3u), subgroupBroadcast(a4v, 3u), subgroupBroadcast(a5, 3u), subgroupBroadcast(a6, 3u), subgroupBroadcast(a7, 3u), b + 96u);
    panel_quad(&acc, subgroupBroadcast(a0, 4u), subgroupBroadcast(a1, 4u), subgroupBroadcast(a2, 4u), subgroupBroadcast(a3, 4u), subgroupBroadcast(a4v, 4u), subgroupBroadcast(a5, 4u), subgroupBroadcast(a6, 4u), subgroupBroadcast(a7, 4u), b + 128u);
    panel_quad(&acc, subgroupBroadcast(a0, 5u), subgroupBroadcast(a1, 5u), subgroupBroadcast(a2, 5u), subgroupBroadcast(a3, 5u), subgroupBroadcast(a4v, 5u), subgroupBroadcast(a5, 5u), subgroupBroadcast(a6, 5u), subgroupBroadcast(a7, 5u), b + 160u);
    panel_quad(&acc, subgroupBroadcast(a0, 6u), subgroupBroadcast(a1, 6u), subgroupBroadcast(a2, 6u), subgroupBroadcast(a3, 6u), subgroupBroadcast(a4v, 6u), subgroupBroadcast(a5, 6u), subgroupBroadcast(a6, 6u), subgroupBroadcast(a7, 6u), b + 192u);
    panel_quad(&acc, subgroupBroadcast(a0, 7u), subgroupBroadcast(a1, 7u), subgroupBroadcast(a2, 7u), subgroupBroadcast(a3, 7u), subgroupBroadcast(a4v, 7u), subgroupBroadcast(a5, 7u), subgroupBroadcast(a6, 7u), subgroupBroadcast(a7, 7u), b + 224u);
  }
  let ci = row0 * C_STRIDE + slice.cOffset + lane;
  if (slice.accumulate != 0u) {
    acc[0] += dst4[ci];
    acc[1] += dst4[ci + C_STRIDE];
    acc[2] += dst4[ci + 2u * C_STRIDE];
    acc[3] += dst4[ci + 3u * C_STRIDE];
    acc[4] += dst4[ci + 4u * C_STRIDE];
    acc[5] += dst4[ci + 5u * C_STRIDE];
    acc[6] += dst4[ci + 6u * C_STRIDE];
    acc[7] += dst4[ci + 7u * C_STRIDE];
  }
  dst4[ci] = acc[0];
  dst4[ci + C_STRIDE] = acc[1];
  dst4[ci + 2u * C_STRIDE] = acc[2];
  dst4[ci + 3u * C_STRIDE] = acc[3];
  dst4[ci + 4u * C_STRIDE] = acc[4];
  dst4[ci + 5u * C_STRIDE] = acc[5];
  dst4[ci + 6u * C_STRIDE] = acc[6];
  dst4[ci + 7u * C_STRIDE] = acc[7];
}
{{RB_END}}

// ---- shared-memory tiled variant ----------------------------------------------------------------

// acc[i] += tileA[row i of this lane] · tileB (4 reduction steps) for the lane's 4 rows × 4 columns.
fn tile_multiply(acc: ptr<function, array<vec4<f32>, 4>>, rowQuad: u32, colVec: u32) {
  let b0 = tileB[colVec];
  let b1 = tileB[8u + colVec];
  let b2 = tileB[16u + colVec];
  let b3 = tileB[24u + colVec];
  for (var i = 0u; i < 4u; i++) {
    let a = tileA[rowQuad * 4u + i];
    (*acc)[i] += a.x * b0 + a.y * b1 + a.z * b2 + a.w * b3;
  }
}

@compute @workgroup_size(64)
fn igemm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let panel = flat / ROW_BLOCKS;
  let rowBlock = flat % ROW_BLOCKS;
  // Loaders: lanes 0..31 gather one row's 4 channels, lanes 32..63 one vec4 of packed weights.
  let p = dst_pixel(min(rowBlock * 32u + lid % 32u, BATCH * DST_H * DST_W - 1u));
  let bRow = (lid % 32u) / 8u;
  var acc: array<vec4<f32>, 4>;
  for (var ky = 0u; ky < KH; ky++) {
    for (var kx = 0u; kx < KW; kx++) {
      let at = tap_offset(p, ky, kx);
      var w = (((panel * KH + ky) * KW + kx) * SRC_CP + bRow) * 8u + lid % 8u;
      for (var c = 0u; c < SRC_C; c += 4u) {
        if (lid < 32u) {
          tileA[lid] = gather4(at, c);
        } else {
          tileB[lid - 32u] = packed[w];
        }
        workgroupBarrier();
        tile_multiply(&acc, lid / 8u, lid % 8u);
        workgroupBarrier();
        w += 32u;
      }
    }
  }
  let row0 = rowBlock * 32u + (lid / 8u) * 4u;
  let colVec = panel * 8u + lid % 8u;
  let b = column_bias(colVec);
  write_dst(row0, colVec, acc[0] + b);
  write_dst(row0 + 1u, colVec, acc[1] + b);
  write_dst(row0 + 2u, colVec, acc[2] + b);
  write_dst(row0 + 3u, colVec, acc[3] + b);
}

// Workgroup = (chunk, tap, 32-channel block, 32-column panel).
@compute @workgroup_size(64)
fn wgrad_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let blk = wgrad_block(flat, 32u);
  let c = min(blk.cBlock * 32u + lid % 32u, SRC_C - 1u);
  let rowVecs = COLS_P / 4u;
  let bRow = (lid % 32u) / 8u;
  let bCol = blk.panel * 8u + lid % 8u;
  var acc: array<vec4<f32>, 4>;
  for (var q = blk.chunk * P_CHUNK; q < (blk.chunk + 1u) * P_CHUNK; q += 4u) {
    if (lid < 32u) {
      tileA[lid] = gather_pixels(q, blk.ky, blk.kx, c);
    } else {
      tileB[lid - 32u] = packed[(q + bRow) * rowVecs + bCol];
    }
    workgroupBarrier();
    tile_multiply(&acc, lid / 8u, lid % 8u);
    workgroupBarrier();
  }
  let out = ((blk.chunk * KH * KW + blk.ky * KW + blk.kx) * C_PAD + blk.cBlock * 32u + (lid / 8u) * 4u) * rowVecs + bCol;
  dst4[out] = acc[0];
  dst4[out + rowVecs] = acc[1];
  dst4[out + 2u * rowVecs] = acc[2];
  dst4[out + 3u * rowVecs] = acc[3];
}

// ---- layout kernels -------------------------------------------------------------------------------

// Weights [O, C, KH, KW] → 32-column panels [col / 32][tap][row][col % 32], rows = c and cols = o
// (mode 0, forward) or rows = o and cols = c (mode 1, input gradient), zero padded. A workgroup holds
// 8 rows × 32 columns (indices from the workgroup id, with no divisions: costly per lane on lavapipe)
// and each lane loops over its taps, contiguous in OIHW: reading tap-major across the whole tensor
// missed the cache on every load and cost more than the convolution's GEMM.
@compute @workgroup_size(256)
fn pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x * 8u + lid / 32u;
  if (row >= params.rowsPad) { return; }
  let col = wid.y * 32u + lid % 32u;
  let live = row < params.rows && col < params.cols;
  let o = select(col, row, params.mode == 1u);
  let c = select(row, col, params.mode == 1u);
  let channels = select(params.rows, params.cols, params.mode == 1u);
  let first = (o * channels + c) * params.taps;
  var to = (wid.y * params.taps * params.rowsPad + row) * 32u + lid % 32u;
  for (var tap = 0u; tap < params.taps; tap++) {
    var value = 0.0;
    if (live) { value = src[first + tap]; }
    dst[to] = value;
    to += params.rowsPad * 32u;
  }
}

// pack_weight with vec4 stores, when the channels (C, and O for the forward) are multiples of 4 and,
// for the forward, the rows need no padding. The 8 lanes of a subgroup write one 32-column row of a
// panel. Forward (mode 0): a lane moves a 4 × 4 block, 4 output channels × 4 consecutive (c, tap) of
// OIHW, with 4 vec4 loads (`packed`, a vec4 view of the weights) and 4 vec4 stores, a transpose in
// registers. Input gradient (mode 1): a lane moves 4 input channels of one output channel, 4 scalar
// loads and one vec4 store per tap. Half the time of the scalar kernel.
@compute @workgroup_size(64)
fn pack_weight_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let taps = KH * KW;
  let panelBase = wid.y * taps * params.rowsPad;
  if (params.mode == 1u) {
    let o = wid.x * 8u + lid / 8u;
    if (o >= params.rowsPad) { return; }
    let c = (wid.y * 8u + lid % 8u) * 4u;
    let live = o < params.rows && c < params.cols;
    let at = (min(o, params.rows - 1u) * params.cols + min(c, params.cols - 4u)) * taps;
    for (var t = 0u; t < taps; t++) {
      let v = vec4<f32>(src[at + t], src[at + taps + t], src[at + 2u * taps + t], src[at + 3u * taps + t]);
      dst4[(panelBase + t * params.rowsPad + o) * 8u + lid % 8u] = select(vec4<f32>(0.0), v, live);
    }
    return;
  }
  let flatCount = params.rows * taps;
  let quad = wid.x * 8u + lid / 8u;
  if (quad * 4u >= flatCount) { return; }
  let o = (wid.y * 8u + lid % 8u) * 4u;
  let live = o < params.cols;
  let at = (min(o, params.cols - 4u) * flatCount) / 4u + quad;
  let v0 = select(vec4<f32>(0.0), packed[at], live);
  let v1 = select(vec4<f32>(0.0), packed[at + flatCount / 4u], live);
  let v2 = select(vec4<f32>(0.0), packed[at + flatCount / 2u], live);
  let v3 = select(vec4<f32>(0.0), packed[at + 3u * flatCount / 4u], live);
  for (var m = 0u; m < 4u; m++) {
    let f = quad * 4u + m;
    dst4[(panelBase + (f % taps) * params.rowsPad + f / taps) * 8u + lid % 8u] = vec4<f32>(v0[m], v1[m], v2[m], v3[m]);
  }
}

// Activations [N, C, plane] → [pixel pad][c pad] (mode 0, channels last) or 32-channel panels
// [c / 32][pixel pad][c % 32] (mode 2: dy for the panel weight gradient); pixel = n·plane + position,
// zero padded. The divisors are override constants: lavapipe divides by a runtime value lane by lane,
// which made this pass cost a tenth of the weight gradient.
override PACK_PLANE: u32 = 1u;
override PACK_COLS_PAD: u32 = 1u;
override PACK_ROWS_PAD: u32 = 1u;

@compute @workgroup_size(64)
fn pack_pixels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.total) { return; }
  var col = i % PACK_COLS_PAD;
  var row = i / PACK_COLS_PAD;
  if (params.mode == 2u) {
    col = (i / (32u * PACK_ROWS_PAD)) * 32u + i % 32u;
    row = (i / 32u) % PACK_ROWS_PAD;
  }
  var value = 0.0;
  if (row < params.rows && col < params.cols) {
    value = src[((row / PACK_PLANE) * params.cols + col) * PACK_PLANE + row % PACK_PLANE];
  }
  dst[i] = value;
}

// dW[o, c, tap] = Σ over chunks, in chunk order, of partial[chunk][tap][c pad][o pad]. One invocation
// per o, a workgroup per (64 o's, c, tap): no divisions.
@compute @workgroup_size(64)
fn wgrad_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x * 64u + lid;
  if (o >= params.cols) { return; }
  let c = wid.y;
  let tap = wid.z;
  var total = 0.0;
  for (var k = 0u; k < params.plane; k++) {
    total += src[((k * params.taps + tap) * params.rowsPad + c) * params.colsPad + o];
  }
  dst[(o * params.rows + c) * params.taps + tap] = total;
}

// dW[o][row] = Σ over chunks, in chunk order, of partial[chunk][o][row pad] (wgrad_rb's layout, row =
// c·taps + tap). A workgroup per (64 rows, o): no divisions.
@compute @workgroup_size(64)
fn wgrad_rows_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x * 64u + lid;
  if (row >= params.rows) { return; }
  let o = wid.y;
  var total = 0.0;
  for (var k = 0u; k < params.plane; k++) {
    total += src[(k * params.cols + o) * params.rowsPad + row];
  }
  dst[o * params.rows + row] = total;
}

// Channels-last [pixel][channel pad] (the panel GEMM's result) → NCHW [N, cols, plane], plus bias when mode = 1.
@compute @workgroup_size(64)
fn unpack_pixels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.total) { return; }
  let pix = i % params.plane;
  let col = (i / params.plane) % params.cols;
  let n = i / (params.plane * params.cols);
  var value = src[(n * params.plane + pix) * params.colsPad + col];
  if (params.mode == 1u) { value += bias[col]; }
  dst[i] = value;
}

// One chunk of the transposed im2col matrix of x: [tap · C + c][pixel in chunk (rows of them)],
// pixel = start + column (output pixels); zeros in padding and past the end.
@compute @workgroup_size(64)
fn im2col_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.total) { return; }
  let r = i / params.rows;
  let q = params.start + i % params.rows;
  let tap = r / SRC_C;
  var value = 0.0;
  if (tap < KH * KW && q < BATCH * DST_H * DST_W) {
    let at = tap_offset(dst_pixel(q), tap / KW, tap % KW);
    if (at >= 0) { value = src[u32(at) + (r % SRC_C) * SRC_H * SRC_W]; }
  }
  dst[i] = value;
}
