// Copies a block of `rows` rows of ROW_LEN 4-byte elements between two tensors seen as rows with
// their own stride and offset: concat writes each input into its slab of the output, narrow reads
// one slab out. Elements are moved as u32 bits so any dtype copies exactly.

// Elements per row: a pipeline constant, so that the index split below needs no per-lane division.
// #include grid-index

override ROW_LEN: u32 = 1u;

struct Params {
  rows: u32,
  srcStride: u32,
  srcOffset: u32,
  dstStride: u32,
  dstOffset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn copy_block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 256u);
  if (i >= params.rows * ROW_LEN) { return; }
  let row = i / ROW_LEN;
  let k = i % ROW_LEN;
  dst[params.dstOffset + row * params.dstStride + k] = src[params.srcOffset + row * params.srcStride + k];
}
