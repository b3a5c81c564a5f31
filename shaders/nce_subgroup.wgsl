// InfoNCE streamed over the queue, the lavapipe-fast form (needs subgroups of 8): two GEMMs fused per
// 32-key block, the [N, K] logits never stored. src/ops/nce-window.ts packs the operands and generates the
// unrolled bodies PHASE1 / PHASE2 (like matmul_subgroup.wgsl's STEPS).
//
// Why it is shaped like this (docs/LAVAPIPE.md): on lavapipe a storage load at a per-lane
// address costs ~250 instructions per vec4, a uniform load ~11, subgroupBroadcast at a constant lane ~2.
// So every operand read in the inner loops comes through a 64 KiB UNIFORM binding:
//   - qU: a super-tile of QROWS queries, pre-scaled by 1/τ, [row][DP] (DP = dim padded to 32);
//   - dk / kd: one window of W keys of the queue in two layouts, [d][key] and [key][d].
// One dispatch per (query super-tile, window); a workgroup (one subgroup) owns R = 8 queries and walks
// the window in blocks of 32 keys, lane l holding keys 4l .. 4l+3 of the block:
//   phase 1, logits: l_r = q_r · kv (a GEMM step: lane l's vec4 of q_r spread by subgroupBroadcast,
//     one dk vec4 per d, 8 vec4 multiply-adds);
//   softmax bookkeeping: a running max m_r per query shared by the lanes (subgroupMax), raised lazily
//     (only when a block's max exceeds it by more than GROW, so exp(l − m) ≤ e^GROW and rescaling the
//     state is rare), per-lane sums of exp(l − m) and counts of negatives beating the positive;
//   phase 2 (ACC, the gradient): acc_r[d] += Σ_keys exp(l − m_r)·kv[d], a second GEMM step with lane l
//     owning d = 32·db + 4l .. +3 and the weights spread from the lane that computed them.
// State (m, sums, counts, acc) carries from window to window: each dispatch reads the previous one's
// through uniform bindings (statsIn, accIn: this super-tile's rows) and writes `stats` and `acc` in
// storage; src/ops/nce-window.ts alternates two pairs of buffers. nce_window_combine adds the positive.
enable subgroups;

// #include grid-index

const R: u32 = {{R}}u;    // queries per workgroup
const DP: u32 = {{DP}}u;        // dim padded to 32
const W: u32 = {{W}}u;          // keys per window (DP · W ≤ 16384)
const ACC: bool = {{ACC}};
const NEG: f32 = -3.0e38;
const GROW: f32 = 8.0;

struct Params {
  n: u32,         // queries
  keys: u32,      // K
  keyBase: u32,   // first key of this window
  rowBase: u32,   // first query of this super-tile
  first: u32,     // 1 for the first window: the state starts empty
  dim: u32,       // D
  total: u32,     // packing: values to write
  invTau: f32,    // packing: 1/τ
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> qU: array<vec4<f32>, 4096>;
@group(0) @binding(2) var<uniform> dk: array<vec4<f32>, 4096>;
@group(0) @binding(3) var<uniform> kd: array<vec4<f32>, 4096>;
// Positive logits q·k/τ [Np].
@group(0) @binding(4) var<storage, read> lpos: array<f32>;
// Per query and lane: (sum of exp(l − m), count of negatives above the positive, m, 0).
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<f32>>;
// Per query: Σ exp(l − m)·kv [DP] (ACC).
@group(0) @binding(6) var<storage, read_write> acc: array<vec4<f32>>;
// The previous window's stats and acc for this super-tile's rows (ignored when params.first).
@group(0) @binding(15) var<uniform> statsIn: array<vec4<f32>, 4096>;
@group(0) @binding(16) var<uniform> accIn: array<vec4<f32>, 4096>;

@compute @workgroup_size(8)
fn nce_window(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = params.rowBase + wid.x * R;
  let tileRow = wid.x * R;
  let qRow = tileRow * (DP / 4u) + lane;
{{INIT}}
  for (var b = 0u; b < W / 32u; b++) {
    let key = params.keyBase + b * 32u + 4u * lane;
    let valid = (vec4<u32>(key) + vec4<u32>(0u, 1u, 2u, 3u)) < vec4<u32>(params.keys);
{{LOGITS}}
{{PHASE1}}
{{SOFTMAX}}
{{PHASE2}}
  }
{{STORE}}
}

// One invocation per query: merges the lanes and the positive into the row's loss lse − l_pos, the
// rank of the positive and (ACC) E[kv] = (e^{l_pos − M}·k + e^{m − M}·acc) / S, all the gradient needs.
@group(0) @binding(7) var<storage, read> kpos: array<f32>;
@group(0) @binding(8) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(9) var<storage, read_write> rank: array<u32>;
@group(0) @binding(10) var<storage, read_write> expect: array<f32>;

@compute @workgroup_size(64)
fn nce_window_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = gridIndex(wid, nwg, lid, 64u);
  if (row >= params.n) { return; }
  let l = lpos[row];
  let mq = stats[row * 8u].z;
  var sq = 0.0;
  var count = 0.0;
  for (var lane = 0u; lane < 8u; lane++) {
    sq += stats[row * 8u + lane].x;
    count += stats[row * 8u + lane].y;
  }
  let mAll = max(mq, l);
  let wq = exp(mq - mAll);
  let wPos = exp(l - mAll);
  let sAll = sq * wq + wPos;
  rowLoss[row] = mAll + log(sAll) - l;
  rank[row] = u32(count);
  if (ACC) {
    for (var d = 0u; d < params.dim; d++) {
      expect[row * params.dim + d] = (wPos * kpos[row * params.dim + d] + wq * acc[row * (DP / 4u) + d / 4u][d % 4u]) / sAll;
    }
  }
}

// Packing: the queries once per call and the queue into windows (plain kernels, no subgroups).
@group(0) @binding(11) var<storage, read> src: array<f32>;
@group(0) @binding(12) var<storage, read_write> packed: array<f32>;

// qU rows: q/τ padded to DP, rows past N zero; and lposOut = q·k/τ per row (zero past N).
@group(0) @binding(14) var<storage, read_write> lposOut: array<f32>;
@compute @workgroup_size(64)
fn nce_pack_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.total) { return; }
  let row = i / DP;
  let d = i % DP;
  let inside = row < params.n && d < params.dim;
  packed[i] = select(0.0, src[min(row, params.n - 1u) * params.dim + min(d, params.dim - 1u)] * params.invTau, inside);
  if (d == 0u) {
    var l = 0.0;
    if (row < params.n) {
      for (var j = 0u; j < params.dim; j++) {
        l += src[row * params.dim + j] * kpos[row * params.dim + j];
      }
    }
    lposOut[row] = l * params.invTau;
  }
}

// The queue [D, K] cut into windows of W keys: packed [window][DP][W], packedT [window][W][DP]; keys
// past K and dims past D are zeros (nce_window masks keys past K). One invocation moves a 4 × 4 block
// (4 dims × 4 keys) with vec4 loads and stores: per-lane storage accesses are what costs on lavapipe.
@group(0) @binding(23) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(24) var<storage, read_write> packed4: array<vec4<f32>>;
@group(0) @binding(25) var<storage, read_write> packedT4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn nce_pack_queue(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.total) { return; }
  let blocksPerWindow = (DP / 4u) * (W / 4u);
  let window = i / blocksPerWindow;
  let d0 = (i % blocksPerWindow) / (W / 4u) * 4u;
  let k0 = (i % (W / 4u)) * 4u;
  let key = window * W + k0;
  var rows: array<vec4<f32>, 4>;
  for (var j = 0u; j < 4u; j++) {
    let d = d0 + j;
    rows[j] = select(vec4<f32>(0.0), src4[(min(d, params.dim - 1u) * params.keys + min(key, params.keys - 4u)) / 4u], d < params.dim && key < params.keys);
    packed4[(window * DP * W + d * W + k0) / 4u] = rows[j];
  }
  let t = window * W * DP + k0 * DP + d0;
  packedT4[t / 4u] = vec4<f32>(rows[0].x, rows[1].x, rows[2].x, rows[3].x);
  packedT4[(t + DP) / 4u] = vec4<f32>(rows[0].y, rows[1].y, rows[2].y, rows[3].y);
  packedT4[(t + 2u * DP) / 4u] = vec4<f32>(rows[0].z, rows[1].z, rows[2].z, rows[3].z);
  packedT4[(t + 3u * DP) / 4u] = vec4<f32>(rows[0].w, rows[1].w, rows[2].w, rows[3].w);
}
