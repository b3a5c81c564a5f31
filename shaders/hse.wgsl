// Hyperspherical energy (recipe §6) of n unit vectors x [n, dim]: per-row sums
// out[i] = Σ_{j≠i} f_s(d_ij), d_ij = sqrt(max(2 − 2·x_i·x_j, 0) + eps), f_0 = log(1/d), f_s = d^(−s).

// #include grid-index

struct Params {
  n: u32,
  dim: u32,
  s: f32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn hse_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.n) { return; }
  var acc = 0.0;
  for (var j = 0u; j < params.n; j++) {
    if (j == i) { continue; }
    var dotIJ = 0.0;
    for (var d = 0u; d < params.dim; d++) {
      dotIJ += x[i * params.dim + d] * x[j * params.dim + d];
    }
    let dist = sqrt(max(2.0 - 2.0 * dotIJ, 0.0) + params.eps);
    acc += select(pow(dist, -params.s), -log(dist), params.s == 0.0);
  }
  out[i] = acc;
}
