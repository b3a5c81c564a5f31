// 2-D convolution (NCHW activations, OIHW weights) as implicit GEMM: no im2col buffer, the
// activation operand is gathered tap by tap. Shapes are `override` constants so the JIT folds them
// (a 1×1 stride-1 conv specialises to a plain GEMM with no bounds tests).
//
// igemm_*: forward (TRANSPOSED = false) and input gradient (TRANSPOSED = true, the gather form of the
//   transposed conv). Rows are the destination pixels, columns its channels, the reduction runs over
//   (tap, source channel) against weights packed by pack_weight as [tap][src channel pad 4][dst channel pad 32].
// wgrad_*: weight gradient. Rows are (tap, input channel), columns output channels, the reduction runs
//   over output pixels in fixed chunks against dy packed by pack_pixels as [pixel][out channel pad 32];
//   chunk partials are summed in chunk order by wgrad_sum (deterministic, no atomics).
// Variants: *_rb, one 8-lane subgroup per workgroup, an 8×32 register tile, each lane gathers the source
// for its own row and spreads it with subgroupBroadcast (fast on lavapipe, no shared memory);
// *_tiled, 64 lanes sharing 32×32 tiles through workgroup memory (portable).
{{ENABLE}}

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

struct PackParams {
  rows: u32,      // real rows of the packed matrix per tap (or pixels)
  rowsPad: u32,
  cols: u32,      // real columns
  colsPad: u32,
  taps: u32,
  swap: u32,      // pack_weight: 1 packs [tap][o][c] (input gradient), 0 packs [tap][c][o]
  plane: u32,     // pack_pixels: pixels per image; wgrad_sum: chunks
  total: u32,     // packed elements
}

@group(0) @binding(0) var<uniform> params: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> packed: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<storage, read_write> dst4: array<vec4<f32>>;

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

fn write_dst(row: u32, colVec: u32, v: vec4<f32>) {
  if (row >= BATCH * DST_H * DST_W) { return; }
  let plane = DST_H * DST_W;
  let n = row / plane;
  let pix = row % plane;
  for (var j = 0u; j < 4u; j++) {
    let col = colVec * 4u + j;
    if (col < DST_C) {
      var value = v[j];
      if (HAS_BIAS) { value += bias[col]; }
      dst[(n * DST_C + col) * plane + pix] = value;
    }
  }
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
  let p = dst_pixel(min(rowBlock * 8u + lane, BATCH * DST_H * DST_W - 1u));
  let colVec = panel * 8u + lane;
  let rowVecs = COLS_P / 4u;
  var acc: array<vec4<f32>, 8>;
  for (var ky = 0u; ky < KH; ky++) {
    for (var kx = 0u; kx < KW; kx++) {
      let at = tap_offset(p, ky, kx);
      var w = (ky * KW + kx) * SRC_CP * rowVecs + colVec;
      for (var c = 0u; c < SRC_C; c += 4u) {
        let a = gather4(at, c);
        let b0 = packed[w];
        let b1 = packed[w + rowVecs];
        let b2 = packed[w + 2u * rowVecs];
        let b3 = packed[w + 3u * rowVecs];
        spread(&acc, a.x, b0);
        spread(&acc, a.y, b1);
        spread(&acc, a.z, b2);
        spread(&acc, a.w, b3);
        w += 4u * rowVecs;
      }
    }
  }
  for (var r = 0u; r < 8u; r++) {
    write_dst(rowBlock * 8u + r, colVec, acc[r]);
  }
}

// Workgroup = (chunk, tap, 8-channel block, 32-column panel); lane = input channel.
@compute @workgroup_size(8)
fn wgrad_rb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  var flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let panel = flat % (COLS_P / 32u);
  flat /= COLS_P / 32u;
  let cBlock = flat % (C_PAD / 8u);
  flat /= C_PAD / 8u;
  let tap = flat % (KH * KW);
  let chunk = flat / (KH * KW);
  let ky = tap / KW;
  let kx = tap % KW;
  let c = min(cBlock * 8u + lane, SRC_C - 1u);
  let plane = SRC_H * SRC_W;
  let pixels = BATCH * DST_H * DST_W;
  let rowVecs = COLS_P / 4u;
  let colVec = panel * 8u + lane;
  var acc: array<vec4<f32>, 8>;
  for (var q = chunk * P_CHUNK; q < (chunk + 1u) * P_CHUNK; q += 4u) {
    var a: vec4<f32>;
    for (var j = 0u; j < 4u; j++) {
      let at = tap_offset(dst_pixel(min(q + j, pixels - 1u)), ky, kx);
      a[j] = select(0.0, src[u32(max(at, 0)) + c * plane], at >= 0);
    }
    let w = q * rowVecs + colVec;
    spread(&acc, a.x, packed[w]);
    spread(&acc, a.y, packed[w + rowVecs]);
    spread(&acc, a.z, packed[w + 2u * rowVecs]);
    spread(&acc, a.w, packed[w + 3u * rowVecs]);
  }
  let out = ((chunk * KH * KW + tap) * C_PAD + cBlock * 8u) * rowVecs + colVec;
  for (var r = 0u; r < 8u; r++) {
    dst4[out + r * rowVecs] = acc[r];
  }
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
  let rowVecs = COLS_P / 4u;
  // Loaders: lanes 0..31 gather one row's 4 channels, lanes 32..63 one vec4 of packed weights.
  let p = dst_pixel(min(rowBlock * 32u + lid % 32u, BATCH * DST_H * DST_W - 1u));
  let bRow = (lid % 32u) / 8u;
  let bCol = panel * 8u + lid % 8u;
  var acc: array<vec4<f32>, 4>;
  for (var ky = 0u; ky < KH; ky++) {
    for (var kx = 0u; kx < KW; kx++) {
      let at = tap_offset(p, ky, kx);
      var w = ((ky * KW + kx) * SRC_CP + bRow) * rowVecs + bCol;
      for (var c = 0u; c < SRC_C; c += 4u) {
        if (lid < 32u) {
          tileA[lid] = gather4(at, c);
        } else {
          tileB[lid - 32u] = packed[w];
        }
        workgroupBarrier();
        tile_multiply(&acc, lid / 8u, lid % 8u);
        workgroupBarrier();
        w += 4u * rowVecs;
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    write_dst(rowBlock * 32u + (lid / 8u) * 4u + i, panel * 8u + lid % 8u, acc[i]);
  }
}

// Workgroup = (chunk, tap, 32-channel block, 32-column panel).
@compute @workgroup_size(64)
fn wgrad_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var flat = wid.y * nwg.x + wid.x;
  if (flat >= WG_COUNT) { return; }
  let panel = flat % (COLS_P / 32u);
  flat /= COLS_P / 32u;
  let cBlock = flat % (C_PAD / 32u);
  flat /= C_PAD / 32u;
  let tap = flat % (KH * KW);
  let chunk = flat / (KH * KW);
  let ky = tap / KW;
  let kx = tap % KW;
  let c = min(cBlock * 32u + lid % 32u, SRC_C - 1u);
  let plane = SRC_H * SRC_W;
  let pixels = BATCH * DST_H * DST_W;
  let rowVecs = COLS_P / 4u;
  let bRow = (lid % 32u) / 8u;
  let bCol = panel * 8u + lid % 8u;
  var acc: array<vec4<f32>, 4>;
  for (var q = chunk * P_CHUNK; q < (chunk + 1u) * P_CHUNK; q += 4u) {
    if (lid < 32u) {
      var a: vec4<f32>;
      for (var j = 0u; j < 4u; j++) {
        let at = tap_offset(dst_pixel(min(q + j, pixels - 1u)), ky, kx);
        a[j] = select(0.0, src[u32(max(at, 0)) + c * plane], at >= 0);
      }
      tileA[lid] = a;
    } else {
      tileB[lid - 32u] = packed[(q + bRow) * rowVecs + bCol];
    }
    workgroupBarrier();
    tile_multiply(&acc, lid / 8u, lid % 8u);
    workgroupBarrier();
  }
  let out = ((chunk * KH * KW + tap) * C_PAD + cBlock * 32u + (lid / 8u) * 4u) * rowVecs + panel * 8u + lid % 8u;
  for (var i = 0u; i < 4u; i++) {
    dst4[out + i * rowVecs] = acc[i];
  }
}

// ---- layout kernels -------------------------------------------------------------------------------

// Weights [O, C, KH, KW] → [tap][c pad][o pad] (swap = 0) or [tap][o pad][c pad] (swap = 1), zero padded.
@compute @workgroup_size(64)
fn pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= params.total) { return; }
  let col = i % params.colsPad;
  let row = (i / params.colsPad) % params.rowsPad;
  let tap = i / (params.colsPad * params.rowsPad);
  var value = 0.0;
  if (row < params.rows && col < params.cols) {
    let o = select(col, row, params.swap == 1u);
    let c = select(row, col, params.swap == 1u);
    let channels = select(params.rows, params.cols, params.swap == 1u);
    value = src[(o * channels + c) * params.taps + tap];
  }
  dst[i] = value;
}

// Activations [N, C, plane] → [pixel pad][c pad] (pixel = n·plane + position), zero padded.
@compute @workgroup_size(64)
fn pack_pixels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= params.total) { return; }
  let col = i % params.colsPad;
  let row = i / params.colsPad;
  var value = 0.0;
  if (row < params.rows && col < params.cols) {
    value = src[((row / params.plane) * params.cols + col) * params.plane + row % params.plane];
  }
  dst[i] = value;
}

// dW[o, c, tap] = Σ over chunks, in chunk order, of partial[chunk][tap][c pad][o pad].
@compute @workgroup_size(64)
fn wgrad_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i >= params.total) { return; }
  let tap = i % params.taps;
  let c = (i / params.taps) % params.rows;
  let o = i / (params.taps * params.rows);
  var total = 0.0;
  for (var k = 0u; k < params.plane; k++) {
    total += src[((k * params.taps + tap) * params.rowsPad + c) * params.colsPad + o];
  }
  dst[i] = total;
}
