// InfoNCE against a key queue, streamed: logits l_j = q·kv_j / τ are never stored.
//
// nce_partial: a workgroup of 8 lanes takes R queries and one split of the queue's columns; each lane
// owns 4 consecutive columns (one vec4 per dimension: queue is [D, K], K % 4 == 0) of every 32-column
// block. Per lane and query it keeps an online log-sum-exp (running max m, sum s of exp(l − m)), the
// count of negatives whose logit beats the positive, and (ACC) the softmax-weighted sum of columns
// Σ exp(l_j − m)·kv_j rescaled whenever m grows — the flash-attention trick, so the gradient needs no
// second pass. Each lane writes its partial state; nce_combine merges them with the positive.
// Everything a lane reuses lives in private arrays (registers/stack on lavapipe), never in workgroup
// memory, and there are no barriers.

// #include grid-index

const D: u32 = {{D}}u;
const R: u32 = {{R}}u;
const ACC: bool = {{ACC}};
const NEG: f32 = -3.0e38;

struct Params {
  n: u32,
  keys: u32,
  keysPerSplit: u32,
  parts: u32,
  invTau: f32,
  gradScale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kpos: array<f32>;
@group(0) @binding(3) var<storage, read> queue: array<vec4<f32>>;
// Per part p = split·8 + lane and query n: [m, s, count, acc_0 .. acc_{D-1}].
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(6) var<storage, read_write> rank: array<u32>;
@group(0) @binding(7) var<storage, read_write> expect: array<f32>;
@group(0) @binding(8) var<storage, read> grad: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<f32>;
// The GEMM form: the products q·queue [N, K] (K % 4 == 0), turned in place into softmax weights.
@group(0) @binding(10) var<storage, read_write> logits: array<vec4<f32>>;

fn positiveLogit(row: u32) -> f32 {
  var l = 0.0;
  for (var d = 0u; d < D; d++) {
    l += q[row * D + d] * kpos[row * D + d];
  }
  return l * params.invTau;
}

@compute @workgroup_size(8)
fn nce_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row0 = wid.x * R;
  let split = wid.y;
  var qt: array<f32, R * D>;
  var lpos: array<f32, R>;
  var m: array<f32, R>;
  var s: array<f32, R>;
  var cnt: array<u32, R>;
  var acc: array<f32, R * D>;
  for (var r = 0u; r < R; r++) {
    let row = min(row0 + r, params.n - 1u);
    for (var d = 0u; d < D; d++) {
      qt[r * D + d] = q[row * D + d] * params.invTau;
    }
    lpos[r] = positiveLogit(row);
    m[r] = NEG;
    s[r] = 0.0;
    cnt[r] = 0u;
  }
  let quads = params.keys / 4u;
  let begin = split * params.keysPerSplit;
  let end = min(begin + params.keysPerSplit, params.keys);
  var qv: array<vec4<f32>, D>;
  for (var j0 = begin; j0 < end; j0 += 32u) {
    let j = j0 + 4u * lane;
    let valid = j < end;
    let quad = min(j, params.keys - 4u) / 4u;
    for (var d = 0u; d < D; d++) {
      qv[d] = queue[d * quads + quad];
    }
    for (var r = 0u; r < R; r++) {
      var l = vec4<f32>(0.0);
      for (var d = 0u; d < D; d++) {
        l += qt[r * D + d] * qv[d];
      }
      let mOld = m[r];
      let mNew = select(mOld, max(mOld, max(max(l.x, l.y), max(l.z, l.w))), valid);
      let shrink = exp(mOld - mNew);
      let e = select(vec4<f32>(0.0), exp(l - mNew), vec4<bool>(valid));
      s[r] = s[r] * shrink + (e.x + e.y) + (e.z + e.w);
      let beats = select(vec4<u32>(0u), vec4<u32>(1u), (l > vec4<f32>(lpos[r])) & vec4<bool>(valid));
      cnt[r] += (beats.x + beats.y) + (beats.z + beats.w);
      m[r] = mNew;
      if (ACC) {
        for (var d = 0u; d < D; d++) {
          acc[r * D + d] = acc[r * D + d] * shrink + dot(e, qv[d]);
        }
      }
    }
  }
  let part = split * 8u + lane;
  for (var r = 0u; r < R; r++) {
    let row = row0 + r;
    if (row >= params.n) { break; }
    let at = (part * params.n + row) * (D + 3u);
    partial[at] = m[r];
    partial[at + 1u] = s[r];
    partial[at + 2u] = f32(cnt[r]);
    if (ACC) {
      for (var d = 0u; d < D; d++) {
        partial[at + 3u + d] = acc[r * D + d];
      }
    }
  }
}

// One invocation per query: merges the parts and the positive into the row's loss lse − l_pos, the
// rank of the positive (negatives that beat it) and (ACC) the softmax expectation of the keys
// E[kv] = p_0·k + Σ_j p_j·queue_j, which is all the gradient needs.
@compute @workgroup_size(64)
fn nce_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = gridIndex(wid, nwg, lid, 64u);
  if (row >= params.n) { return; }
  let lp = positiveLogit(row);
  var mAll = lp;
  for (var p = 0u; p < params.parts; p++) {
    mAll = max(mAll, partial[(p * params.n + row) * (D + 3u)]);
  }
  var sAll = exp(lp - mAll);
  var count = 0.0;
  for (var p = 0u; p < params.parts; p++) {
    let at = (p * params.n + row) * (D + 3u);
    sAll += partial[at + 1u] * exp(partial[at] - mAll);
    count += partial[at + 2u];
  }
  rowLoss[row] = mAll + log(sAll) - lp;
  rank[row] = u32(count);
  if (ACC) {
    let wPos = exp(lp - mAll) / sAll;
    for (var d = 0u; d < D; d++) {
      var e = wPos * kpos[row * D + d];
      for (var p = 0u; p < params.parts; p++) {
        let at = (p * params.n + row) * (D + 3u);
        e += partial[at + 3u + d] * exp(partial[at] - mAll) / sAll;
      }
      expect[row * D + d] = e;
    }
  }
}

// dq = g · (E[kv] − k) / (τ·N): gradScale carries 1 / (τ·N), grad[0] the upstream gradient.
@compute @workgroup_size(64)
fn nce_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.n * D) { return; }
  dq[i] = grad[0] * params.gradScale * (expect[i] - kpos[i]);
}

// Ranking accuracy: [fraction with rank 0 (top-1), fraction with rank < 5 (top-5)] over the n queries.
@compute @workgroup_size(1)
fn nce_accuracy() {
  var top1 = 0u;
  var top5 = 0u;
  for (var i = 0u; i < params.n; i++) {
    top1 += select(0u, 1u, rank[i] == 0u);
    top5 += select(0u, 1u, rank[i] < 5u);
  }
  expect[0] = f32(top1) / f32(params.n);
  expect[1] = f32(top5) / f32(params.n);
}

// ---- the GEMM form (src/ops/nce.ts, variant 'gemm') ---------------------------------------------
// The products q·queue come from a GEMM (stored [N, K]); these passes do the softmax bookkeeping the
// streaming pass fuses in: nce_logit_rows finds each row's loss and rank, nce_logit_weights turns
// the products into the softmax weights p_j (whose product with the queue, a second GEMM, is
// Σ_j p_j·queue_j), nce_add_positive adds p_0·k to make E[kv].

const SCAN: u32 = 64u;
var<workgroup> scanM: array<f32, SCAN>;
var<workgroup> scanS: array<f32, SCAN>;
var<workgroup> scanC: array<f32, SCAN>;
var<workgroup> scanPositive: f32;

// One workgroup per query row: each lane keeps an online (max, Σ exp(l − max), count above the
// positive) over its stride of the row (lane 0 starts from the positive), lane 0 merges them in lane
// order (deterministic). Writes the loss, the rank and, in `partial`, the row's (max, sum, p_0).
@compute @workgroup_size(64)
fn nce_logit_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = min(wid.y * nwg.x + wid.x, params.n - 1u);
  // One lane forms the positive logit (a D-long dot product), the others read it.
  if (lid == 0u) { scanPositive = positiveLogit(row); }
  let lp = workgroupUniformLoad(&scanPositive);
  var m = select(NEG, lp, lid == 0u);
  var s = select(0.0, 1.0, lid == 0u);
  var c = 0.0;
  let quads = params.keys / 4u;
  for (var j = lid; j < quads; j += SCAN) {
    let l = logits[row * quads + j] * params.invTau;
    let mNew = max(m, max(max(l.x, l.y), max(l.z, l.w)));
    let e = exp(l - mNew);
    s = s * exp(m - mNew) + (e.x + e.y) + (e.z + e.w);
    m = mNew;
    let beats = select(vec4<f32>(0.0), vec4<f32>(1.0), l > vec4<f32>(lp));
    c += (beats.x + beats.y) + (beats.z + beats.w);
  }
  scanM[lid] = m;
  scanS[lid] = s;
  scanC[lid] = c;
  workgroupBarrier();
  if (lid != 0u || wid.y * nwg.x + wid.x >= params.n) { return; }
  var mAll = NEG;
  for (var t = 0u; t < SCAN; t++) { mAll = max(mAll, scanM[t]); }
  var sAll = 0.0;
  var count = 0.0;
  for (var t = 0u; t < SCAN; t++) {
    sAll += scanS[t] * exp(scanM[t] - mAll);
    count += scanC[t];
  }
  rowLoss[row] = mAll + log(sAll) - lp;
  rank[row] = u32(count);
  partial[row * 3u] = mAll;
  partial[row * 3u + 1u] = sAll;
  partial[row * 3u + 2u] = exp(lp - mAll) / sAll;
}

// p_j = exp(l_j − max) / sum in place, one vec4 per invocation.
@compute @workgroup_size(64)
fn nce_logit_weights(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  let quads = params.keys / 4u;
  if (i >= params.n * quads) { return; }
  let row = i / quads;
  logits[i] = exp(logits[i] * params.invTau - partial[row * 3u]) / partial[row * 3u + 1u];
}

// E[kv] = Σ_j p_j·queue_j (already in `expect`) + p_0·k.
@compute @workgroup_size(64)
fn nce_add_positive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = gridIndex(wid, nwg, lid, 64u);
  if (i >= params.n * D) { return; }
  expect[i] += partial[(i / D) * 3u + 2u] * kpos[i];
}
