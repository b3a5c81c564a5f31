// Matrix multiplication C = A·B in f32, row-major, batched, in two portable variants, plus `pack`,
// the cheap O(rows·cols) kernel that prepares operands so the O(M·N·K) hot loops never branch on
// bounds or transposes. The fastest variant on lavapipe is in matmul_subgroup.wgsl (it needs the
// `subgroups` feature, so it lives in its own module). src/ops/matmul.ts picks the variant.
//
// Layout contract (what `pack` makes, what the GEMM kernels read):
//   A: [batchA][Mp][Kp], B: [batchB][Kp][Np], C: [batch][Mp][Np], all dense row-major, where Mp, Kp,
//   Np are M, K, N rounded up to the variant's block sizes and the padding is zeros: padded K adds
//   nothing to the sums, padded rows and columns of C are dropped when C is unpacked. A batch stride
//   of 0 broadcasts a 2-D operand over the batch.

// ---------------------------------------------------------------------------------------------
// pack: dst[b][r][c] = src[b·batchStride + r·rowStride + c·colStride] inside rows × cols, 0 outside.
// Transposes swap rowStride and colStride. With panel < colsP the destination is cut into panels of
// `panel` columns stored one after another ([colsP/panel][rowsP][panel]), the layout the subgroup
// kernel binds as uniform chunks. The same kernel unpacks a padded C (rowsP = rows, colsP = cols).
// The grid is 3-D so that no coordinate needs a per-lane integer division (lavapipe runs those one lane
// at a time): x = column within a panel, y = a group of PACK_ROWS rows, z = batch · panels + panel.

// #include grid-index

const PACK_ROWS = 4u;

struct PackParams {
  rows: u32,
  cols: u32,
  rowsP: u32,
  panel: u32,
  panels: u32,
  rowOffset: u32,  // first row of this dispatch (a dispatch covers at most 65535 · PACK_ROWS rows)
  rowStride: u32,
  colStride: u32,
  batchStride: u32,
}

@group(0) @binding(0) var<uniform> packing: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(32)
fn pack(@builtin(global_invocation_id) gid: vec3<u32>) {
  // (Locals avoid the names of module-scope bindings: wgsl_reflect would count them as used.)
  let inPanel = gid.x;
  if (inPanel >= packing.panel) { return; }
  let batch = gid.z / packing.panels;
  let col = (gid.z % packing.panels) * packing.panel + inPanel;
  let srcBase = batch * packing.batchStride + col * packing.colStride;
  let firstRow = packing.rowOffset + gid.y * PACK_ROWS;
  for (var row = firstRow; row < min(firstRow + PACK_ROWS, packing.rowsP); row++) {
    var v = 0.0;
    if (row < packing.rows && col < packing.cols) { v = src[srcBase + row * packing.rowStride]; }
    dst[(gid.z * packing.rowsP + row) * packing.panel + inPanel] = v;
  }
}

// ---------------------------------------------------------------------------------------------
// Both GEMM kernels below take sizes in elements (already padded for gemm_register) and batch
// strides in elements; the batch index is workgroup_id.z.

struct GemmParams {
  m: u32,
  n: u32,
  k: u32,
  aBatchStride: u32,
  bBatchStride: u32,
  cBatchStride: u32,
}

@group(0) @binding(0) var<uniform> gemm: GemmParams;

// gemm_register: the portable lavapipe baseline (~11 GFLOP/s at 1024³ on 2 Zen 5 cores). No shared
// memory (barriers are expensive on a CPU): each invocation keeps an 8-row × 4-column block of C in
// eight vec4 registers and, per 4 steps of K, loads 8 vec4 of A (one per row) and 4 vec4 of B (one per
// k), i.e. 12 loads for 128 multiply-adds. Needs M % 8 == 0, N % 4 == 0, K % 4 == 0 (padded by pack).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn gemm_register(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let nv = gemm.n / 4u;
  let kv = gemm.k / 4u;
  let t = gridIndex(wid, nwg, lid, 64u);
  if (t >= (gemm.m / 8u) * nv) { return; }
  // Neighbouring invocations take neighbouring column blocks: they share the A rows.
  let col = t % nv;
  let row0 = (t / nv) * 8u;
  let aBase = (wid.z * gemm.aBatchStride) / 4u + row0 * kv;
  let bBase = (wid.z * gemm.bBatchStride) / 4u + col;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  for (var kq = 0u; kq < kv; kq++) {
    let bRow = bBase + 4u * kq * nv;
    let b0 = b4[bRow];
    let b1 = b4[bRow + nv];
    let b2 = b4[bRow + 2u * nv];
    let b3 = b4[bRow + 3u * nv];
    let aq = aBase + kq;
    let a0 = a4[aq];
    let a1 = a4[aq + kv];
    let a2 = a4[aq + 2u * kv];
    let a3 = a4[aq + 3u * kv];
    let a4r = a4[aq + 4u * kv];
    let a5 = a4[aq + 5u * kv];
    let a6 = a4[aq + 6u * kv];
    let a7 = a4[aq + 7u * kv];
    // One straight-line update per accumulator (a variable written several times per iteration costs
    // a blend per write on lavapipe).
    acc0 = acc0 + a0.x * b0 + a0.y * b1 + a0.z * b2 + a0.w * b3;
    acc1 = acc1 + a1.x * b0 + a1.y * b1 + a1.z * b2 + a1.w * b3;
    acc2 = acc2 + a2.x * b0 + a2.y * b1 + a2.z * b2 + a2.w * b3;
    acc3 = acc3 + a3.x * b0 + a3.y * b1 + a3.z * b2 + a3.w * b3;
    acc4 = acc4 + a4r.x * b0 + a4r.y * b1 + a4r.z * b2 + a4r.w * b3;
    acc5 = acc5 + a5.x * b0 + a5.y * b1 + a5.z * b2 + a5.w * b3;
    acc6 = acc6 + a6.x * b0 + a6.y * b1 + a6.z * b2 + a6.w * b3;
    acc7 = acc7 + a7.x * b0 + a7.y * b1 + a7.z * b2 + a7.w * b3;
  }
  let ci = (wid.z * gemm.cBatchStride) / 4u + row0 * nv + col;
  c4[ci] = acc0;
  c4[ci + nv] = acc1;
  c4[ci + 2u * nv] = acc2;
  c4[ci + 3u * nv] = acc3;
  c4[ci + 4u * nv] = acc4;
  c4[ci + 5u * nv] = acc5;
  c4[ci + 6u * nv] = acc6;
  c4[ci + 7u * nv] = acc7;
}

// gemm_tiled: the classic shared-memory kernel for real GPUs, where workgroup memory is fast and
// global loads are coalesced: 16×16 invocations, one output each, K in tiles of 16 staged in
// workgroup memory. Bounds-checked, so it needs no padding. On lavapipe it is 2-3× slower than
// gemm_register (barriers are costly on a CPU).
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE = 16u;
var<workgroup> tileA: array<array<f32, 16>, 16>;
var<workgroup> tileB: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn gemm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * TILE + lid.y;
  let col = wid.x * TILE + lid.x;
  let aBase = wid.z * gemm.aBatchStride;
  let bBase = wid.z * gemm.bBatchStride;
  var acc = 0.0;
  for (var k0 = 0u; k0 < gemm.k; k0 += TILE) {
    let ak = k0 + lid.x;
    let bk = k0 + lid.y;
    var av = 0.0;
    var bv = 0.0;
    if (row < gemm.m && ak < gemm.k) { av = a[aBase + row * gemm.k + ak]; }
    if (bk < gemm.k && col < gemm.n) { bv = b[bBase + bk * gemm.n + col]; }
    tileA[lid.y][lid.x] = av;
    tileB[lid.y][lid.x] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) {
      acc += tileA[lid.y][kk] * tileB[kk][lid.x];
    }
    workgroupBarrier();
  }
  if (row < gemm.m && col < gemm.n) {
    c[wid.z * gemm.cBatchStride + row * gemm.n + col] = acc;
  }
}
