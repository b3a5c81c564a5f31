// Softmax and log-softmax along one axis of a tensor viewed as [outer, r, inner], numerically stable
// (the row maximum is subtracted before exp), with their backward passes. {{LOG}} is true for
// log-softmax.
// *_strided: one invocation per (outer, inner) row, walking r with stride inner (any axis; coalesced
//   across invocations when inner > 1, e.g. the class axis of NCHW logits).
// *_rows: one 256-wide workgroup per row (inner == 1, few long rows), tree reductions in workgroup
//   memory in a fixed order, so results are deterministic.
// Forward: out = softmax(x) or log_softmax(x). Backward: x is the forward's OUTPUT y, dy the incoming
// gradient: softmax dx = y·(dy − Σ dy·y); log-softmax dx = dy − exp(y)·Σ dy.

const LOG: bool = {{LOG}};
const LOWEST = -3.40282e38;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn rowBase(o: u32) -> u32 {
  return (o / params.inner) * params.r * params.inner + o % params.inner;
}

@compute @workgroup_size(64)
fn forward_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (o >= params.outer * params.inner) { return; }
  let base = rowBase(o);
  let s = params.inner;
  var m = LOWEST;
  for (var k = 0u; k < params.r; k++) { m = max(m, x[base + k * s]); }
  var total = 0.0;
  for (var k = 0u; k < params.r; k++) { total += exp(x[base + k * s] - m); }
  let logTotal = log(total);
  for (var k = 0u; k < params.r; k++) {
    let shifted = x[base + k * s] - m;
    out[base + k * s] = select(exp(shifted) / total, shifted - logTotal, LOG);
  }
}

@compute @workgroup_size(64)
fn backward_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (o >= params.outer * params.inner) { return; }
  let base = rowBase(o);
  let s = params.inner;
  var dot = 0.0;
  for (var k = 0u; k < params.r; k++) {
    let i = base + k * s;
    dot += select(dy[i] * x[i], dy[i], LOG);
  }
  for (var k = 0u; k < params.r; k++) {
    let i = base + k * s;
    out[i] = select(x[i] * (dy[i] - dot), dy[i] - exp(x[i]) * dot, LOG);
  }
}

// Tree reduction of one value per invocation over the workgroup; every invocation gets the result.
fn workgroupMax(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] = max(partial[lid], partial[lid + stride]); }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

fn workgroupSum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(256)
fn forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * params.r;
  var m = LOWEST;
  for (var k = lid; k < params.r; k += 256u) { m = max(m, x[base + k]); }
  m = workgroupMax(lid, m);
  var total = 0.0;
  for (var k = lid; k < params.r; k += 256u) { total += exp(x[base + k] - m); }
  total = workgroupSum(lid, total);
  let logTotal = log(total);
  for (var k = lid; k < params.r; k += 256u) {
    let shifted = x[base + k] - m;
    out[base + k] = select(exp(shifted) / total, shifted - logTotal, LOG);
  }
}

@compute @workgroup_size(256)
fn backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * params.r;
  var dot = 0.0;
  for (var k = lid; k < params.r; k += 256u) { dot += select(dy[base + k] * x[base + k], dy[base + k], LOG); }
  dot = workgroupSum(lid, dot);
  for (var k = lid; k < params.r; k += 256u) {
    let i = base + k;
    out[i] = select(x[i] * (dy[i] - dot), dy[i] - exp(x[i]) * dot, LOG);
  }
}
