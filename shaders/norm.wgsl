// The norms of src/ops/norm.ts: batch norm over NCHW, and L2 normalisation of rows (at the end).
// Batch norm works per channel c across the N·H·W values of that channel.
// Statistics and gradient sums use one 256-wide workgroup per channel, tree-reduced in workgroup
// memory in a fixed order (deterministic, no atomics). They also fold everything per channel into a
// few coefficients, so the elementwise passes load one vector per channel and one value per
// element (loads are the cost on CPU backends). Elementwise grid: x = 256-wide pieces of an H·W
// plane (64 invocations, 4 elements each), y = channel, z = batch index: no runtime division.

struct Params {
  n: u32,
  c: u32,
  hw: u32,
  momentum: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> runningMean: array<f32>;
@group(0) @binding(7) var<storage, read_write> runningVar: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read> dy: array<f32>;
@group(0) @binding(10) var<storage, read_write> gradWeight: array<f32>;
@group(0) @binding(11) var<storage, read_write> gradBias: array<f32>;
// Per channel (weight·invstd, bias − mean·weight·invstd): out = x·scale + shift, as PyTorch's CPU
// kernel computes it; frozen backward: dx = dy·scale.
@group(0) @binding(12) var<storage, read_write> scaleShift: array<vec2<f32>>;
// Per channel (k, k·mean(dy), k·invstd·mean(dy·x̂), mean) with k = weight·invstd: the training
// input gradient dx = k·dy − k·mean(dy) − k·invstd·mean(dy·x̂)·(x − mean).
@group(0) @binding(13) var<storage, read_write> gradCoeffs: array<vec4<f32>>;

// #include workgroup-sum
// #include grid-index

fn at(n: u32, c: u32, s: u32) -> u32 {
  return (n * params.c + c) * params.hw + s;
}

fn foldScaleShift(c: u32, mu: f32, inv: f32) {
  let scale = weight[c] * inv;
  scaleShift[c] = vec2<f32>(scale, bias[c] - mu * scale);
}

// Batch mean and 1/sqrt(biased var + eps); running statistics updated in place with the unbiased
// variance, as PyTorch does. Two passes (mean, then centred squares) for accuracy.
@compute @workgroup_size(256)
fn stats_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.y * nwg.x + wid.x;
  if (c >= params.c) { return; } // grid() may round the workgroup count up; c is uniform here
  let count = f32(params.n * params.hw);
  var acc = 0.0;
  for (var n = 0u; n < params.n; n++) {
    for (var s = lid; s < params.hw; s += 256u) { acc += x[at(n, c, s)]; }
  }
  let mu = workgroupSum(lid, acc) / count;
  var sq = 0.0;
  for (var n = 0u; n < params.n; n++) {
    for (var s = lid; s < params.hw; s += 256u) {
      let d = x[at(n, c, s)] - mu;
      sq += d * d;
    }
  }
  let sumSq = workgroupSum(lid, sq);
  if (lid == 0u) {
    let inv = inverseSqrt(sumSq / count + params.eps);
    mean[c] = mu;
    invstd[c] = inv;
    foldScaleShift(c, mu, inv);
    let m = params.momentum;
    runningMean[c] = (1.0 - m) * runningMean[c] + m * mu;
    runningVar[c] = (1.0 - m) * runningVar[c] + m * sumSq / (count - 1.0);
  }
}

// Frozen mode: the statistics are the running ones.
@compute @workgroup_size(64)
fn stats_frozen(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= params.c) { return; }
  let mu = runningMean[c];
  let inv = inverseSqrt(runningVar[c] + params.eps);
  mean[c] = mu;
  invstd[c] = inv;
  foldScaleShift(c, mu, inv);
}

@compute @workgroup_size(64)
fn normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let ss = scaleShift[wid.y];
  let base = at(wid.z, wid.y, 0u);
  for (var j = 0u; j < 4u; j++) {
    let s = wid.x * 256u + j * 64u + lid;
    if (s < params.hw) { out[base + s] = x[base + s] * ss.x + ss.y; }
  }
}

// Per channel: gradBias = Σ dy, gradWeight = Σ dy·x̂ (x̂ the normalised input), and the training
// input gradient's coefficients.
@compute @workgroup_size(256)
fn grad_affine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.y * nwg.x + wid.x;
  if (c >= params.c) { return; } // grid() may round the workgroup count up; c is uniform here
  let mu = mean[c];
  var sumDy = 0.0;
  var sumDyXc = 0.0;
  for (var n = 0u; n < params.n; n++) {
    for (var s = lid; s < params.hw; s += 256u) {
      let i = at(n, c, s);
      let g = dy[i];
      sumDy += g;
      sumDyXc += g * (x[i] - mu);
    }
  }
  let totalDy = workgroupSum(lid, sumDy);
  let totalDyXc = workgroupSum(lid, sumDyXc);
  if (lid == 0u) {
    let inv = invstd[c];
    let count = f32(params.n * params.hw);
    let k = weight[c] * inv;
    gradBias[c] = totalDy;
    gradWeight[c] = totalDyXc * inv;
    gradCoeffs[c] = vec4<f32>(k, k * totalDy / count, k * inv * inv * totalDyXc / count, mu);
  }
}

@compute @workgroup_size(64)
fn grad_input_train(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = gradCoeffs[wid.y];
  let base = at(wid.z, wid.y, 0u);
  for (var j = 0u; j < 4u; j++) {
    let s = wid.x * 256u + j * 64u + lid;
    if (s < params.hw) { out[base + s] = k.x * dy[base + s] - k.y - k.z * (x[base + s] - k.w); }
  }
}

// Frozen: the statistics are constants, so dx = dy·weight·invstd.
@compute @workgroup_size(64)
fn grad_input_frozen(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let scale = scaleShift[wid.y].x;
  let base = at(wid.z, wid.y, 0u);
  for (var j = 0u; j < 4u; j++) {
    let s = wid.x * 256u + j * 64u + lid;
    if (s < params.hw) { out[base + s] = dy[base + s] * scale; }
  }
}

// ---- L2 normalisation of rows (src/ops/norm.ts l2Normalize, PyTorch's F.normalize):
// x [rows, dim] → x / max(‖x‖, eps). One invocation per row (l2_norms) or per element, over a 2-D
// grid of 64-wide workgroups.

// ---- A frozen batch norm folded into the convolution before it (src/ops/norm.ts foldBatchNorm),
// from the scaleShift that stats_frozen made: weight'[o, k] = weight[o, k]·scale[o] and
// bias'[o] = shift[o] + bias[o]·scale[o]. params.c: output channels, params.hw: weights per output
// channel, params.n: 1 when the convolution has a bias.
@group(0) @binding(17) var<storage, read> convWeight: array<f32>;
@group(0) @binding(18) var<storage, read> convBias: array<f32>;
@group(0) @binding(19) var<storage, read_write> foldedWeight: array<f32>;
@group(0) @binding(20) var<storage, read_write> foldedBias: array<f32>;

@compute @workgroup_size(64)
fn fold_conv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.c * params.hw) { return; }
  let o = i / params.hw;
  let ss = scaleShift[o];
  foldedWeight[i] = convWeight[i] * ss.x;
  if (i % params.hw == 0u) {
    var b = 0.0;
    if (params.n == 1u) { b = convBias[o]; }
    foldedBias[o] = ss.y + b * ss.x;
  }
}

struct RowParams {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(14) var<uniform> rowParams: RowParams;
// The clamped norms max(‖x‖, eps), one per row: written by l2_norms, saved for the backward.
@group(0) @binding(15) var<storage, read_write> norms: array<f32>;
// The forward's output y (the backward reads it instead of x).
@group(0) @binding(16) var<storage, read> unit: array<f32>;

@compute @workgroup_size(64)
fn l2_norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = gridIndex(wid, nwg, lid, 64u);
  if (row >= rowParams.rows) { return; }
  var s = 0.0;
  for (var d = 0u; d < rowParams.dim; d++) {
    let e = x[row * rowParams.dim + d];
    s += e * e;
  }
  norms[row] = max(sqrt(s), rowParams.eps);
}

// out = x / norms[row]
@compute @workgroup_size(64)
fn l2_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= rowParams.rows * rowParams.dim) { return; }
  out[i] = x[i] / norms[i / rowParams.dim];
}

// Gradient of y = x / max(‖x‖, eps) given y (unit) and the upstream gradient g (dy):
// dx = (g − y·<y, g>) / ‖x‖ where the norm exceeds eps, g / eps where it is clamped.
@compute @workgroup_size(64)
fn l2_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= rowParams.rows * rowParams.dim) { return; }
  let row = i / rowParams.dim;
  let norm = norms[row];
  var yg = 0.0;
  for (var d = 0u; d < rowParams.dim; d++) {
    yg += unit[row * rowParams.dim + d] * dy[row * rowParams.dim + d];
  }
  // A clamped norm is a constant: the gradient is g / eps there.
  out[i] = select((dy[i] - unit[i] * yg) / norm, dy[i] / norm, norm <= rowParams.eps);
}
