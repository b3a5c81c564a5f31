// Elementwise kernels. {{UNARY}} is an expression in x (and the param alpha); {{BINARY}} in x and y.
// Indices run over a 2-D grid of 256-wide workgroups so tensors past 65535·256 elements fit.

// #include grid-index

struct Params {
  n: u32,
  rank: u32,
  alpha: f32,
  beta: f32,
  // Broadcasting: output shape and the input strides in elements (0 on broadcast axes), rank ≤ 8.
  shape: array<vec4<u32>, 2>,
  aStrides: array<vec4<u32>, 2>,
  bStrides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn unaryOp(x: f32) -> f32 {
  let alpha = params.alpha;
  let beta = params.beta;
  return {{UNARY}};
}

fn binaryOp(x: f32, y: f32) -> f32 {
  let alpha = params.alpha;
  return {{BINARY}};
}

fn dim(v: array<vec4<u32>, 2>, i: u32) -> u32 {
  return v[i / 4u][i % 4u];
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  if (i >= params.n) { return; }
  out[i] = unaryOp(a[i]);
}

// Same-shape binary op: no index arithmetic.
@compute @workgroup_size(256)
fn binary_same(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  if (i >= params.n) { return; }
  out[i] = binaryOp(a[i], b[i]);
}

@compute @workgroup_size(256)
fn binary_broadcast(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  if (i >= params.n) { return; }
  let shape = params.shape;
  let aStrides = params.aStrides;
  let bStrides = params.bStrides;
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let extent = dim(shape, u32(d));
    let coord = rest % extent;
    rest = rest / extent;
    ia += coord * dim(aStrides, u32(d));
    ib += coord * dim(bStrides, u32(d));
  }
  out[i] = binaryOp(a[ia], b[ib]);
}

// vec4 paths for same-shape tensors whose size is a multiple of 4: on lavapipe a per-lane storage
// load costs about the same for a vec4 as for one f32, so moving 4 values per load is ~4× the
// bandwidth. The scalar expression is applied per component (it may use scalar-only builtins).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4<f32>>;

// Each invocation handles VEC4_PER_INVOCATION vec4s (neighbouring lanes on neighbouring vec4s at each
// step): on lavapipe the per-invocation start-up and bounds check otherwise cost more than the loads.
// The end of the data bounds the loop itself (an `if` in the body was ~1.5× slower).
const VEC4_PER_INVOCATION = 8u;

fn firstVec4(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u * VEC4_PER_INVOCATION + lid;
}

@compute @workgroup_size(256)
fn unary_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var i = firstVec4(wid, nwg, lid); i < min(firstVec4(wid, nwg, lid) + 256u * VEC4_PER_INVOCATION, params.n / 4u); i += 256u) {
    let x = a4[i];
    out4[i] = vec4<f32>(unaryOp(x.x), unaryOp(x.y), unaryOp(x.z), unaryOp(x.w));
  }
}

@compute @workgroup_size(256)
fn binary_same_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var i = firstVec4(wid, nwg, lid); i < min(firstVec4(wid, nwg, lid) + 256u * VEC4_PER_INVOCATION, params.n / 4u); i += 256u) {
    let x = a4[i];
    let y = b4[i];
    out4[i] = vec4<f32>(binaryOp(x.x, y.x), binaryOp(x.y, y.y), binaryOp(x.z, y.z), binaryOp(x.w, y.w));
  }
}

// Pooled buffers are whole vec4s long (src/gpu/pool.ts), so the last partial vec4 may be written.
@compute @workgroup_size(256)
fn fill_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var i = firstVec4(wid, nwg, lid); i < min(firstVec4(wid, nwg, lid) + 256u * VEC4_PER_INVOCATION, (params.n + 3u) / 4u); i += 256u) {
    out4[i] = vec4<f32>(params.alpha);
  }
}
