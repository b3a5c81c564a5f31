// Softmax and log-softmax along one axis of a tensor viewed as [outer, r, inner], numerically stable
// (the row maximum is subtracted before exp), with their backward passes. {{LOG}} is true for
// log-softmax.
// *_strided: one invocation per (outer, inner) row, walking r with stride inner (any axis; coalesced
//   across invocations when inner > 1, e.g. the class axis of NCHW logits).
// *_rows: one 256-wide workgroup per row (inner == 1, few long rows), tree reductions in workgroup
//   memory in a fixed order, so results are deterministic.
// *_inner4, *_row4 (at the end): the strided kernel on vec4s when the shape allows.
// Forward: out = softmax(x) or log_softmax(x). Backward: x is the forward's OUTPUT y, dy the incoming
// gradient: softmax dx = y·(dy − Σ dy·y); log-softmax dx = dy − exp(y)·Σ dy.

// #include grid-index

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

// #include workgroup-sum

fn rowBase(o: u32) -> u32 {
  return (o / params.inner) * params.r * params.inner + o % params.inner;
}

@compute @workgroup_size(64)
fn forward_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let o = gridIndex(wid, nwg, lid, 64u);
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
  let o = gridIndex(wid, nwg, lid, 64u);
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

// vec4 variants (on lavapipe a per-lane vec4 load costs about what an f32 load costs):
// *_inner4: inner % 4 == 0; each invocation handles 4 neighbouring inner positions (e.g. 4 pixels of
//   NCHW logits along C), component-wise. *_row4: inner == 1 and r % 4 == 0; each invocation a row.
// Strides and offsets below are in vec4s.
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

fn rowBase4(o: u32, inner4: u32) -> u32 {
  return (o / inner4) * params.r * inner4 + o % inner4;
}

fn softmaxOut4(shifted: vec4<f32>, total: vec4<f32>) -> vec4<f32> {
  return select(exp(shifted) / total, shifted - log(total), LOG);
}

fn softmaxGrad4(y: vec4<f32>, g: vec4<f32>, dot: vec4<f32>) -> vec4<f32> {
  return select(y * (g - dot), g - exp(y) * dot, LOG);
}

@compute @workgroup_size(64)
fn forward_inner4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inner4 = params.inner / 4u;
  let o = gridIndex(wid, nwg, lid, 64u);
  if (o >= params.outer * inner4) { return; }
  let base = rowBase4(o, inner4);
  var m = vec4<f32>(LOWEST);
  for (var k = 0u; k < params.r; k++) { m = max(m, x4[base + k * inner4]); }
  var total = vec4<f32>(0.0);
  for (var k = 0u; k < params.r; k++) { total += exp(x4[base + k * inner4] - m); }
  for (var k = 0u; k < params.r; k++) {
    let i = base + k * inner4;
    out4[i] = softmaxOut4(x4[i] - m, total);
  }
}

@compute @workgroup_size(64)
fn backward_inner4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inner4 = params.inner / 4u;
  let o = gridIndex(wid, nwg, lid, 64u);
  if (o >= params.outer * inner4) { return; }
  let base = rowBase4(o, inner4);
  var dot = vec4<f32>(0.0);
  for (var k = 0u; k < params.r; k++) {
    let i = base + k * inner4;
    dot += select(dy4[i] * x4[i], dy4[i], LOG);
  }
  for (var k = 0u; k < params.r; k++) {
    let i = base + k * inner4;
    out4[i] = softmaxGrad4(x4[i], dy4[i], dot);
  }
}

@compute @workgroup_size(64)
fn forward_row4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = gridIndex(wid, nwg, lid, 64u);
  if (row >= params.outer) { return; }
  let r4 = params.r / 4u;
  let base = row * r4;
  var m4 = vec4<f32>(LOWEST);
  for (var k = 0u; k < r4; k++) { m4 = max(m4, x4[base + k]); }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var sum4 = vec4<f32>(0.0);
  for (var k = 0u; k < r4; k++) { sum4 += exp(x4[base + k] - m); }
  let total = vec4<f32>(sum4.x + sum4.y + sum4.z + sum4.w);
  for (var k = 0u; k < r4; k++) { out4[base + k] = softmaxOut4(x4[base + k] - m, total); }
}

@compute @workgroup_size(64)
fn backward_row4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = gridIndex(wid, nwg, lid, 64u);
  if (row >= params.outer) { return; }
  let r4 = params.r / 4u;
  let base = row * r4;
  var dot4 = vec4<f32>(0.0);
  for (var k = 0u; k < r4; k++) { dot4 += select(dy4[base + k] * x4[base + k], dy4[base + k], LOG); }
  let dot = vec4<f32>(dot4.x + dot4.y + dot4.z + dot4.w);
  for (var k = 0u; k < r4; k++) { out4[base + k] = softmaxGrad4(x4[base + k], dy4[base + k], dot); }
}
