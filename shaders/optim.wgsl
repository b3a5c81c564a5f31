// Parameter updates, one dispatch per parameter tensor.
// ema:  k = m·k + (1 − m)·q  (the key head follows the query head, recipe §2).
// sgd:  d = g + wd·p;  buf = lr·d on the first step (first = 1), else buf = μ·buf + lr·d;  p −= buf
//       (the LR folded into the momentum buffer, as the reference's optimiser does, recipe §3).

struct Params {
  n: u32,
  first: u32,
  lr: f32,
  momentum: f32,
  weightDecay: f32,
  decay: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// vec4 views of the same buffers (tensors whose size is a multiple of 4): ~4× fewer per-lane loads on lavapipe.
@group(0) @binding(1) var<storage, read_write> p4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> buf4: array<vec4<f32>>;

// p is the key parameter, g the query parameter, decay = m.
@compute @workgroup_size(256)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  p[i] = params.decay * p[i] + (1.0 - params.decay) * g[i];
}

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n) { return; }
  let d = g[i] + params.weightDecay * p[i];
  let b = select(params.momentum * buf[i] + params.lr * d, params.lr * d, params.first != 0u);
  buf[i] = b;
  p[i] = p[i] - b;
}

@compute @workgroup_size(256)
fn ema_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n / 4u) { return; }
  p4[i] = params.decay * p4[i] + (1.0 - params.decay) * g4[i];
}

@compute @workgroup_size(256)
fn sgd_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= params.n / 4u) { return; }
  let d = g4[i] + params.weightDecay * p4[i];
  let b = select(params.momentum * buf4[i] + params.lr * d, params.lr * d, params.first != 0u);
  buf4[i] = b;
  p4[i] = p4[i] - b;
}
