// Reductions along one axis of a tensor viewed as [outer, r, inner].
// *_strided: one invocation per output (good when there are many outputs).
// *_rows: one 256-wide workgroup per output row (inner == 1, few long rows), tree-reduced in
// workgroup memory in a fixed order, so results are deterministic.

// #include grid-index

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;

var<workgroup> partialSum: array<f32, 256>;
var<workgroup> partialIdx: array<u32, 256>;

@compute @workgroup_size(64)
fn sum_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = gridIndex(wid, nwg, lid, 64u);
  if (o >= params.outer * params.inner) { return; }
  let base = (o / params.inner) * params.r * params.inner + o % params.inner;
  var acc = 0.0;
  for (var k = 0u; k < params.r; k++) {
    acc += x[base + k * params.inner];
  }
  out[o] = acc * params.scale;
}

@compute @workgroup_size(256)
fn sum_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let base = row * params.r;
  var acc = 0.0;
  for (var k = lid; k < params.r; k += 256u) {
    acc += x[base + k];
  }
  partialSum[lid] = acc;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partialSum[lid] += partialSum[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = partialSum[0] * params.scale; }
}

@compute @workgroup_size(64)
fn max_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = gridIndex(wid, nwg, lid, 64u);
  if (o >= params.outer * params.inner) { return; }
  let base = (o / params.inner) * params.r * params.inner + o % params.inner;
  var best = x[base];
  var bestK = 0u;
  for (var k = 1u; k < params.r; k++) {
    let v = x[base + k * params.inner];
    if (v > best) { best = v; bestK = k; }
  }
  out[o] = best;
  argmax[o] = bestK;
}

@compute @workgroup_size(256)
fn max_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let base = row * params.r;
  var best = -3.40282e38;
  var bestK = 0xffffffffu;
  for (var k = lid; k < params.r; k += 256u) {
    let v = x[base + k];
    if (v > best) { best = v; bestK = k; }
  }
  partialSum[lid] = best;
  partialIdx[lid] = bestK;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      let v = partialSum[lid + stride];
      let k = partialIdx[lid + stride];
      // Ties go to the lower index, as a sequential scan would.
      if (v > partialSum[lid] || (v == partialSum[lid] && k < partialIdx[lid])) {
        partialSum[lid] = v;
        partialIdx[lid] = k;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[row] = partialSum[0];
    argmax[row] = partialIdx[0];
  }
}

// Backward of max: the gradient goes to the arg-max position; everything else is 0.
@compute @workgroup_size(256)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  let n = params.outer * params.r * params.inner;
  if (i >= n) { return; }
  let inner = i % params.inner;
  let k = (i / params.inner) % params.r;
  let o = (i / (params.inner * params.r)) * params.inner + inner;
  out[i] = select(0.0, x[o], argmax[o] == k);
}

// Non-finite count of one tensor, added into nonFinite[slot] (checkpoints are written only from
// finite state). Inf and NaN are told by their exponent bits (all ones), which no fast-math
// assumption can fold away. Each workgroup covers COUNT_SPAN = 256 · 16 elements and adds its total
// with one atomic: a count does not depend on the order of the additions.
struct CountParams {
  n: u32,
  slot: u32,
}

@group(0) @binding(0) var<uniform> count: CountParams;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> nonFinite: array<atomic<u32>>;

var<workgroup> partialCount: array<u32, 256>;

@compute @workgroup_size(256)
fn count_nonfinite(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.y * nwg.x + wid.x) * 4096u;
  var c = 0u;
  for (var k = 0u; k < 16u; k++) {
    let i = first + k * 256u + lid;
    if (i < count.n && (values[i] & 0x7f800000u) == 0x7f800000u) { c += 1u; }
  }
  partialCount[lid] = c;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partialCount[lid] += partialCount[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u && partialCount[0] > 0u) { atomicAdd(&nonFinite[count.slot], partialCount[0]); }
}
