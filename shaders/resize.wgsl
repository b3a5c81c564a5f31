// Bilinear resize of NCHW planes with F.interpolate(mode='bilinear')'s source-index rule for both
// align_corners settings. The backward is a gather, separable like the forward: first along x (each
// input column gathers, for every output row, the output columns that can reach it), then along y,
// weighting with the forward's own interpolation coefficients.
// Grid: x = 64-wide pieces of a row, y = row, z = plane: the row's taps are uniform per workgroup
// and nothing divides by a runtime value (slow on CPU backends).

struct Params {
  inH: u32,
  inW: u32,
  outH: u32,
  outW: u32,
  // in/out (align_corners false) or (in−1)/(out−1) (true; 0 when out == 1), rounded to f32 like PyTorch.
  scaleH: f32,
  scaleW: f32,
  alignCorners: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
// Gradient gathered along x only: [planes, outH, inW].
@group(0) @binding(4) var<storage, read_write> colGrad: array<f32>;

struct Taps {
  i0: u32,
  i1: u32,
  l0: f32,
  l1: f32,
}

fn sourceIndex(dst: u32, scale: f32) -> f32 {
  if (params.alignCorners != 0u) { return scale * f32(dst); }
  return max(scale * (f32(dst) + 0.5) - 0.5, 0.0);
}

fn taps(dst: u32, scale: f32, inSize: u32) -> Taps {
  let src = sourceIndex(dst, scale);
  let i0 = u32(src);
  let i1 = select(i0, i0 + 1u, i0 < inSize - 1u);
  let l1 = clamp(src - f32(i0), 0.0, 1.0);
  return Taps(i0, i1, 1.0 - l1, l1);
}

/** Weight of input index i in output index dst. */
fn weightOf(t: Taps, i: u32) -> f32 {
  return select(0.0, t.l0, t.i0 == i) + select(0.0, t.l1, t.i1 == i);
}

@compute @workgroup_size(64)
fn bilinear_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ox = wid.x * 64u + lid;
  if (ox >= params.outW) { return; }
  let oy = wid.y;
  let plane = wid.z;
  let base = plane * params.inH * params.inW;
  let ty = taps(oy, params.scaleH, params.inH);
  let tx = taps(ox, params.scaleW, params.inW);
  let r0 = base + ty.i0 * params.inW;
  let r1 = base + ty.i1 * params.inW;
  let o = (plane * params.outH + oy) * params.outW + ox;
  out[o] = ty.l0 * (tx.l0 * x[r0 + tx.i0] + tx.l1 * x[r0 + tx.i1]) + ty.l1 * (tx.l0 * x[r1 + tx.i0] + tx.l1 * x[r1 + tx.i1]);
}

// Output indices whose source index can fall within one of input index i (plus a margin of one
// index for rounding); exact membership is decided by weightOf with the forward's own taps.
fn candidates(i: u32, scale: f32, outSize: u32) -> vec2<u32> {
  if (scale == 0.0) { return vec2<u32>(0u, outSize); }
  var lo = (f32(i) - 1.0) / scale;
  var hi = (f32(i) + 1.0) / scale;
  if (params.alignCorners == 0u) {
    lo = (f32(i) - 0.5) / scale - 0.5;
    hi = (f32(i) + 1.5) / scale - 0.5;
  }
  let first = u32(max(floor(lo) - 1.0, 0.0));
  let last = u32(clamp(ceil(hi) + 2.0, 0.0, f32(outSize)));
  return vec2<u32>(first, last);
}

@compute @workgroup_size(64)
fn bilinear_backward_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ix = wid.x * 64u + lid;
  if (ix >= params.inW) { return; }
  let oy = wid.y;
  let plane = wid.z;
  let row = (plane * params.outH + oy) * params.outW;
  let cols = candidates(ix, params.scaleW, params.outW);
  var acc = 0.0;
  for (var ox = cols.x; ox < cols.y; ox++) {
    acc += weightOf(taps(ox, params.scaleW, params.inW), ix) * dy[row + ox];
  }
  colGrad[(plane * params.outH + oy) * params.inW + ix] = acc;
}

@compute @workgroup_size(64)
fn bilinear_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ix = wid.x * 64u + lid;
  if (ix >= params.inW) { return; }
  let iy = wid.y;
  let plane = wid.z;
  let rows = candidates(iy, params.scaleH, params.outH);
  var acc = 0.0;
  for (var oy = rows.x; oy < rows.y; oy++) {
    acc += weightOf(taps(oy, params.scaleH, params.inH), iy) * colGrad[(plane * params.outH + oy) * params.inW + ix];
  }
  out[(plane * params.inH + iy) * params.inW + ix] = acc;
}
