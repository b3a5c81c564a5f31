// Dropout with a counter-based mask: element i is kept when hash(seed, i) ≥ threshold
// (= p·2³², so P(keep) = 1 − p) and then scaled by 1/(1 − p). The mask is a pure function of
// (seed, i), so the backward applies the very same mask to the gradient without storing it.

// #include grid-index

struct Params {
  n: u32,
  seed: u32,
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Chris Wellons' triple32 integer hash (full avalanche, bijective on u32).
fn triple32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 17u;
  h *= 0xed5ad4bbu;
  h ^= h >> 11u;
  h *= 0xac4c1b51u;
  h ^= h >> 15u;
  h *= 0x31848babu;
  h ^= h >> 14u;
  return h;
}

fn keyed(i: u32, seed: u32) -> u32 {
  return triple32(triple32(i ^ triple32(seed)) ^ triple32(seed ^ 0x9e3779b9u));
}

@compute @workgroup_size(256)
fn apply_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  if (i >= params.n) { return; }
  out[i] = select(0.0, x[i] * params.scale, keyed(i, params.seed) >= params.threshold);
}
