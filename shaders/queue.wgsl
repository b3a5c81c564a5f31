// The key queue's enqueue (src/ops/queue.ts): queue [dim, K] holds one key per column; keys
// x [n, dim] go to columns (ptr + j) mod K. One invocation per key element, over a 2-D grid of
// 64-wide workgroups.

// #include grid-index

struct Params {
  n: u32,
  dim: u32,
  // K, the queue's length.
  keys: u32,
  // Column of the first key.
  ptr: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> queue: array<f32>;

@compute @workgroup_size(64)
fn enqueue(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.n * params.dim) { return; }
  let d = i % params.dim;
  let j = i / params.dim;
  queue[d * params.keys + (params.ptr + j) % params.keys] = x[i];
}
