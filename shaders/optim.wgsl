// Parameter updates over a parameter arena (src/tensor/arena.ts): one workgroup per span of 1024
// values (256 lanes × vec4), a span never straddling two parameters, so one dispatch covers a group.
// ema:  k = m·k + (1 − m)·q  (the key head follows the query head, recipe §2).
// sgd:  d = g + wd·p;  buf = μ·buf + lr·d;  p −= buf  (the LR folded into the momentum buffer, as the
//       reference's optimiser does, recipe §3). A parameter's momentum is zero until its first step,
//       which makes that step buf = lr·d exactly; spans of parameters without a gradient are skipped.

struct Params {
  spans: u32,
  // First span of this dispatch in the `spanActive` table (a group too big for one binding is split).
  spanBase: u32,
  lr: f32,
  momentum: f32,
  weightDecay: f32,
  decay: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> buf: array<vec4<f32>>;
// 1 for the spans of parameters that have a gradient this step.
@group(0) @binding(4) var<storage, read> spanActive: array<u32>;

fn spanIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// p is the key arena, g the query arena, decay = m.
@compute @workgroup_size(256)
fn ema(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = spanIndex(wid, nwg);
  if (s >= params.spans) { return; }
  let i = s * 256u + lid;
  p[i] = params.decay * p[i] + (1.0 - params.decay) * g[i];
}

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = spanIndex(wid, nwg);
  if (s >= params.spans || spanActive[params.spanBase + s] == 0u) { return; }
  let i = s * 256u + lid;
  let d = g[i] + params.weightDecay * p[i];
  let b = params.momentum * buf[i] + params.lr * d;
  buf[i] = b;
  p[i] = p[i] - b;
}
