// CSG's patch kernels (src/ops/patch.ts): the patch grid, and A-Pool and average pooling over patch
// pieces. One invocation per output element; indices over a 2-D grid of 64-wide workgroups.
//
// Piece geometry (PyTorch `chunk` semantics, recipe §2): rows are cut in pieces of `ph` rows (the last
// possibly shorter), `gr` pieces in all; columns likewise (`pw`, `gc`). Piece (r, c) of image b is
// vector pb = (r·gc + c)·B + b.

// #include grid-index

struct Geo {
  batch: u32,
  channels: u32,
  height: u32,
  width: u32,
  ph: u32,
  pw: u32,
  gr: u32,
  gc: u32,
  // piece_weighted_sum / apool_values_grad: weight 1 instead of w[], divide by the pixel count instead of den[].
  unitWeight: u32,
  byCount: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> geo: Geo;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> den: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

struct Piece {
  b: u32,
  y0: u32,
  y1: u32,
  x0: u32,
  x1: u32,
}

fn pieceOf(pb: u32) -> Piece {
  let b = pb % geo.batch;
  let p = pb / geo.batch;
  let r = p / geo.gc;
  let c = p % geo.gc;
  let y0 = r * geo.ph;
  let x0 = c * geo.pw;
  return Piece(b, y0, min(y0 + geo.ph, geo.height), x0, min(x0 + geo.pw, geo.width));
}

/** Vector index of the piece holding pixel (b, y, x). */
fn pieceAt(b: u32, y: u32, xx: u32) -> u32 {
  return ((y / geo.ph) * geo.gc + xx / geo.pw) * geo.batch + b;
}

fn pieceCount(p: Piece) -> f32 {
  return f32((p.y1 - p.y0) * (p.x1 - p.x0));
}

/** Element i of a map [B, C, H, W] (or, with channels = 1, of a pixel map [B, H, W]). */
struct MapIndex {
  b: u32,
  c: u32,
  /** Pixel index (b·H + y)·W + x into [B, H, W] maps. */
  pixel: u32,
  /** The piece vector holding the pixel. */
  pb: u32,
}

fn mapIndex(i: u32, channels: u32) -> MapIndex {
  let xx = i % geo.width;
  let y = (i / geo.width) % geo.height;
  let c = (i / (geo.width * geo.height)) % channels;
  let b = i / (geo.width * geo.height * channels);
  return MapIndex(b, c, (b * geo.height + y) * geo.width + xx, pieceAt(b, y, xx));
}

// ---- Patch grid for even cuts: x [B, C, H, W] ↔ out [g²·B, C, H/g, W/g], patch (r, c) of image b at (r·g + c)·B + b.
// patch_grid gathers (forward); patch_ungrid gathers back (the backward, a permutation).
fn gridSource(i: u32) -> u32 {
  // i indexes the patch tensor [P·B, C, ph, pw].
  let xx = i % geo.pw;
  let y = (i / geo.pw) % geo.ph;
  let c = (i / (geo.pw * geo.ph)) % geo.channels;
  let pb = i / (geo.pw * geo.ph * geo.channels);
  let piece = pieceOf(pb);
  return ((piece.b * geo.channels + c) * geo.height + piece.y0 + y) * geo.width + piece.x0 + xx;
}

@compute @workgroup_size(64)
fn patch_grid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  out[i] = x[gridSource(i)];
}

@compute @workgroup_size(64)
fn patch_ungrid(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  out[gridSource(i)] = x[i];
}

// ---- A-Pool over pieces. Maps are [B, C, H, W]; per-piece vectors [P·B, C]; per-pixel maps [B, H, W].

// out[pb, c] = Σ_{pixels of the piece} weight · x[b, c, y, x] / (den[pb] or the pixel count).
@compute @workgroup_size(64)
fn piece_weighted_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = gridIndex(wid, nwg, lid, 64u);
  if (o >= geo.n) { return; }
  let c = o % geo.channels;
  let pb = o / geo.channels;
  let p = pieceOf(pb);
  var acc = 0.0;
  for (var y = p.y0; y < p.y1; y++) {
    let rowX = ((p.b * geo.channels + c) * geo.height + y) * geo.width;
    let rowW = (p.b * geo.height + y) * geo.width;
    for (var xx = p.x0; xx < p.x1; xx++) {
      let weight = select(w[rowW + xx], 1.0, geo.unitWeight != 0u);
      acc += weight * x[rowX + xx];
    }
  }
  out[o] = acc / select(den[pb], pieceCount(p), geo.byCount != 0u);
}

// out[b, y, x] = Σ_c x[b, c, y, x] · v[piece(y, x), c]: attention logits <v_ij, v̄>, or <g, V_ij> in the backward.
@compute @workgroup_size(64)
fn pixel_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  let at = mapIndex(i, 1u);
  let plane = geo.height * geo.width;
  var acc = 0.0;
  for (var c = 0u; c < geo.channels; c++) {
    acc += x[(at.b * geo.channels + c) * plane + at.pixel % plane] * v[at.pb * geo.channels + c];
  }
  out[i] = acc;
}

// out[pb] = Σ_{pixels of the piece} w (unitWeight = 0) or w·x (unitWeight = 1: x holds a second map).
@compute @workgroup_size(64)
fn piece_pixel_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let pb = gridIndex(wid, nwg, lid, 64u);
  if (pb >= geo.n) { return; }
  let p = pieceOf(pb);
  var acc = 0.0;
  for (var y = p.y0; y < p.y1; y++) {
    let row = (p.b * geo.height + y) * geo.width;
    for (var xx = p.x0; xx < p.x1; xx++) {
      acc += w[row + xx] * select(1.0, x[row + xx], geo.unitWeight != 0u);
    }
  }
  out[pb] = acc;
}

// Gradient of the attention logits w_i given h_i = <g, V_i> (x), Z = Σw (den) and Σ w·h (v, per piece):
// u_i = (h_i − Σ_k a_k h_k) / Z with a = w / Z.
@compute @workgroup_size(64)
fn apool_logit_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  let pb = mapIndex(i, 1u).pb;
  let z = den[pb];
  out[i] = (x[i] - v[pb] / z) / z;
}

// Gradient to the pooled map: dV[b, c, y, x] = g[pb, c] (v) · a_i, a_i = w_i / Z (or 1 / count).
@compute @workgroup_size(64)
fn apool_values_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  let at = mapIndex(i, geo.channels);
  let weight = select(w[at.pixel], 1.0, geo.unitWeight != 0u);
  out[i] = v[at.pb * geo.channels + at.c] * weight / select(den[at.pb], pieceCount(pieceOf(at.pb)), geo.byCount != 0u);
}

// Gradient to the attention source S: dS[b, c, y, x] = u_i (w) · m[pb, c] (v) + r[pb, c] (x),
// with m the piece mean of S and r = Σ_k u_k S_k / count.
@compute @workgroup_size(64)
fn apool_source_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= geo.n) { return; }
  let at = mapIndex(i, geo.channels);
  out[i] = w[at.pixel] * v[at.pb * geo.channels + at.c] + x[at.pb * geo.channels + at.c];
}
