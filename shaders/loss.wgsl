// Softmax cross-entropy over the channel axis of NCHW logits with integer labels [N,H,W] and an
// ignore label (PyTorch's reduction='mean' with ignore_index: mean over the valid pixels, here 0 when
// there are none). A label outside [0, C) that is not the ignore label poisons its pixel with NaN
// (loss and gradient), so a bad label cannot pass silently.

struct Params {
  pixels: u32,
  classes: u32,
  hw: u32,
  ignoreIndex: i32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
// Per pixel: (loss, 1 if counted else 0).
@group(0) @binding(3) var<storage, read_write> pixelLoss: array<vec2<f32>>;
@group(0) @binding(4) var<storage, read_write> logSumExp: array<f32>;
@group(0) @binding(5) var<storage, read_write> meanLoss: array<f32>;
@group(0) @binding(8) var<storage, read_write> validCount: array<f32>;
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad: array<f32>;

var<workgroup> partial: array<vec2<f32>, 256>;

const NAN_BITS = 0x7fc00000u;

// Per-pixel kernels run on a grid x = 256-wide pieces of an H·W plane, y = batch index (no runtime
// division). Pixel (n, s) is label n·hw + s; its class c logit is at its base + c·hw.
struct Pixel {
  p: u32,
  base: u32,
}

fn pixelOf(wid: vec3<u32>, lid: u32) -> Pixel {
  let s = wid.x * 256u + lid;
  return Pixel(wid.y * params.hw + s, wid.y * params.classes * params.hw + s);
}

@compute @workgroup_size(256)
fn pixel_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (wid.x * 256u + lid >= params.hw) { return; }
  let px = pixelOf(wid, lid);
  let p = px.p;
  let label = labels[p];
  if (label == params.ignoreIndex) {
    pixelLoss[p] = vec2<f32>(0.0, 0.0);
    logSumExp[p] = 0.0;
    return;
  }
  if (label < 0 || label >= i32(params.classes)) {
    var nanBits = NAN_BITS; // a runtime value: WGSL rejects NaN as a constant
    let nan = bitcast<f32>(nanBits);
    pixelLoss[p] = vec2<f32>(nan, 1.0);
    logSumExp[p] = nan;
    return;
  }
  var m = logits[px.base];
  for (var c = 1u; c < params.classes; c++) { m = max(m, logits[px.base + c * params.hw]); }
  var s = 0.0;
  for (var c = 0u; c < params.classes; c++) { s += exp(logits[px.base + c * params.hw] - m); }
  let lse = m + log(s);
  logSumExp[p] = lse;
  pixelLoss[p] = vec2<f32>(lse - logits[px.base + u32(label) * params.hw], 1.0);
}

// One workgroup: sums of loss and count over every pixel, in a fixed order.
@compute @workgroup_size(256)
fn mean_loss(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2<f32>(0.0, 0.0);
  for (var p = lid; p < params.pixels; p += 256u) { acc += pixelLoss[p]; }
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let sums = partial[0];
    meanLoss[0] = select(sums.x / sums.y, 0.0, sums.y == 0.0);
    validCount[0] = sums.y;
  }
}

// dlogits = dy·(softmax − onehot)/count at valid pixels, 0 at ignored ones; one invocation per pixel
// (label and log-sum-exp loaded once for all its classes).
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (wid.x * 256u + lid >= params.hw) { return; }
  let px = pixelOf(wid, lid);
  let label = labels[px.p];
  if (label == params.ignoreIndex) {
    for (var c = 0u; c < params.classes; c++) { grad[px.base + c * params.hw] = 0.0; }
    return;
  }
  let lse = logSumExp[px.p];
  let scale = dy[0] / validCount[0];
  for (var c = 0u; c < params.classes; c++) {
    let i = px.base + c * params.hw;
    let onehot = select(0.0, 1.0, i32(c) == label);
    grad[i] = (exp(logits[i] - lse) - onehot) * scale;
  }
}
