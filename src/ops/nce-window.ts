// The InfoNCE window pass (shaders/nce_subgroup.wgsl), lavapipe's fast form: the generator of its
// unrolled WGSL bodies and its launch, one dispatch per (query super-tile, queue window) with every
// operand read through 64 KiB uniform windows. src/ops/nce.ts chooses between this and the portable
// streaming pass and owns the op.
// WGSL: shaders/nce_subgroup.wgsl · reference: kernels-test/ref/nce.ts · test: kernels-test/nce.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, roundUp } from '../tensor/index.js';

/** What either InfoNCE pass gives per query. */
export interface NceRows {
  /** Per-query loss lse − l_pos [N]. */
  rowLoss: Tensor;
  /** Per-query count of negatives whose logit beats the positive [N] (u32): 0 = top-1. */
  ranks: Tensor;
  /** Softmax expectation of the keys E[kv] [N, D] (only when withGrad). */
  expect: Tensor | null;
}

/** Largest padded dim the window kernel takes: a window must hold 32 keys in 64 KiB. */
export const WINDOW_MAX_DP = 512;
const UNIFORM_FLOATS = 16384;
/** Queries per workgroup of the window kernel (4 is as fast, 16 slower: register pressure). */
const NCE_WINDOW_ROWS = 8;

const windowSource = new Map<string, Record<string, string | number>>();

/** Defines of nce_subgroup.wgsl for a padded dim: the unrolled bodies (names unique per step, see matmul.ts). */
function windowDefines(dp: number, w: number, withGrad: boolean): Record<string, string | number> {
  const key = `${dp}/${withGrad}`;
  const cached = windowSource.get(key);
  if (cached) return cached;
  const rows = Array.from({ length: NCE_WINDOW_ROWS }, (_, r) => r);
  const blocks = Array.from({ length: dp / 32 }, (_, db) => db);
  const xyzw = 'xyzw';
  const init: string[] = [];
  const phase1: string[] = [];
  const softmax: string[] = [];
  const phase2: string[] = [];
  const store: string[] = [];
  for (const r of rows) {
    init.push(`  let st${r} = statsIn[(tileRow + ${r}u) * 8u + lane];`);
    // m is the same in every lane; taking lane 0's makes that visible to the compiler (uniform branches).
    init.push(`  var m${r} = select(subgroupBroadcast(st${r}.z, 0u), NEG, params.first != 0u);`);
    init.push(`  var s${r} = vec4<f32>(select(st${r}.x, 0.0, params.first != 0u), 0.0, 0.0, 0.0);`);
    init.push(`  var c${r} = vec4<f32>(select(st${r}.y, 0.0, params.first != 0u), 0.0, 0.0, 0.0);`);
    init.push(`  let p${r} = lpos[row0 + ${r}u];`);
    store.push(`  stats[(row0 + ${r}u) * 8u + lane] = vec4<f32>((s${r}.x + s${r}.y) + (s${r}.z + s${r}.w), (c${r}.x + c${r}.y) + (c${r}.z + c${r}.w), m${r}, 0.0);`);
    if (withGrad) {
      for (const db of blocks) {
        init.push(`  var a${r}_${db} = select(accIn[(tileRow + ${r}u) * ${dp / 4}u + ${db * 8}u + lane], vec4<f32>(0.0), params.first != 0u);`);
        store.push(`  acc[(row0 + ${r}u) * ${dp / 4}u + ${db * 8}u + lane] = a${r}_${db};`);
      }
    }
  }
  phase1.push(`    let kb = b * 8u + lane;`);
  for (const db of blocks) {
    for (const r of rows) phase1.push(`    let q${db}_${r} = qU[qRow + ${r * (dp / 4) + db * 8}u];`);
    for (let lp = 0; lp < 8; lp++) {
      for (const r of rows) phase1.push(`    let x${db}_${lp}_${r} = subgroupBroadcast(q${db}_${r}, ${lp}u);`);
      for (let c = 0; c < 4; c++) {
        phase1.push(`    let k${db}_${lp}_${c} = dk[kb + ${(db * 32 + 4 * lp + c) * (w / 4)}u];`);
        for (const r of rows) phase1.push(`    l${r} = l${r} + x${db}_${lp}_${r}.${xyzw[c]} * k${db}_${lp}_${c};`);
      }
    }
  }
  for (const r of rows) {
    softmax.push(`    let lm${r} = select(vec4<f32>(NEG), l${r}, valid);`);
    softmax.push(`    let bm${r} = subgroupMax(max(max(lm${r}.x, lm${r}.y), max(lm${r}.z, lm${r}.w)));`);
    softmax.push(`    if (bm${r} > m${r} + GROW) {`);
    softmax.push(`      let f = exp(m${r} - bm${r});`);
    softmax.push(`      s${r} = s${r} * f;`);
    if (withGrad) for (const db of blocks) softmax.push(`      a${r}_${db} = a${r}_${db} * f;`);
    softmax.push(`      m${r} = bm${r};`);
    softmax.push(`    }`);
    softmax.push(`    let e${r} = select(vec4<f32>(0.0), exp(l${r} - m${r}), valid);`);
    softmax.push(`    s${r} = s${r} + e${r};`);
    softmax.push(`    c${r} = c${r} + select(vec4<f32>(0.0), vec4<f32>(1.0), (l${r} > vec4<f32>(p${r})) & valid);`);
  }
  if (withGrad) {
    phase2.push(`    let kdBase = b * ${32 * (dp / 4)}u + lane;`);
    for (const db of blocks) {
      for (let lp = 0; lp < 8; lp++) {
        for (const r of rows) phase2.push(`    let y${db}_${lp}_${r} = subgroupBroadcast(e${r}, ${lp}u);`);
        for (let c = 0; c < 4; c++) {
          phase2.push(`    let v${db}_${lp}_${c} = kd[kdBase + ${(4 * lp + c) * (dp / 4) + db * 8}u];`);
          for (const r of rows) phase2.push(`    a${r}_${db} = a${r}_${db} + y${db}_${lp}_${r}.${xyzw[c]} * v${db}_${lp}_${c};`);
        }
      }
    }
  }
  const defines = {
    R: NCE_WINDOW_ROWS,
    LOGITS: rows.map((r) => `    var l${r} = vec4<f32>(0.0);`).join('\n'),
    DP: dp,
    W: w,
    ACC: withGrad ? 'true' : 'false',
    INIT: init.join('\n'),
    PHASE1: phase1.join('\n'),
    SOFTMAX: softmax.join('\n'),
    PHASE2: phase2.join('\n'),
    STORE: store.join('\n'),
  };
  windowSource.set(key, defines);
  return defines;
}

// q [N, D], k [N, D], queue [D, K] → rowLoss [N], ranks u32 [N], expect [N, D] | null
/** The window pass: one dispatch per (query super-tile, queue window), state carried in storage. */
export function nceRowsWindow(q: Tensor, k: Tensor, queue: Tensor, tau: number, withGrad: boolean): NceRows {
  const [n, dim] = q.shape as [number, number];
  const keys = queue.shape[1]!;
  const dp = roundUp(dim, 32);
  const w = Math.floor(UNIFORM_FLOATS / dp / 32) * 32;
  const superRows = Math.floor(UNIFORM_FLOATS / dp / NCE_WINDOW_ROWS) * NCE_WINDOW_ROWS;
  const np = roundUp(n, NCE_WINDOW_ROWS);
  const windows = Math.ceil(keys / w);
  const defines = windowDefines(dp, w, withGrad);
  const spec = (entry: string) => ({ family: 'nce_subgroup', entry, defines });
  const base = { n, keys, keyBase: 0, rowBase: 0, first: 0, dim, total: 0, invTau: 1 / tau };
  // Each packed operand has 64 KiB of slack: every window / super-tile is bound as a full 64 KiB.
  const qPacked = Tensor.empty([np * dp + UNIFORM_FLOATS]);
  const lpos = Tensor.empty([np]);
  gpu().run(spec('nce_pack_q'), { src: q.binding, kpos: k.binding, packed: qPacked.binding, lposOut: lpos.binding }, { ...base, total: np * dp }, grid(Math.ceil((np * dp) / 64)));
  const dkPacked = Tensor.empty([windows * dp * w + UNIFORM_FLOATS]);
  const kdPacked = Tensor.empty([windows * dp * w + UNIFORM_FLOATS]);
  gpu().run(spec('nce_pack_queue'), { src4: queue.binding, packed4: dkPacked.binding, packedT4: kdPacked.binding }, { ...base, total: (windows * dp * w) / 16 }, grid(Math.ceil((windows * dp * w) / 16 / 64)));
  // Two generations of state (each dispatch reads one through uniforms and writes the other), with
  // slack for the 64 KiB bindings of the last super-tile.
  const state = [0, 1].map(() => ({
    stats: Tensor.empty([np * 8 * 4 + UNIFORM_FLOATS]),
    acc: Tensor.empty([withGrad ? np * dp + UNIFORM_FLOATS : 4]),
  }));
  const uniform = (t: Tensor, floatOffset: number) => t.bindRange(floatOffset * 4, UNIFORM_FLOATS * 4);
  for (let win = 0; win < windows; win++) {
    const [prev, next] = [state[(win + 1) % 2]!, state[win % 2]!];
    for (let rowBase = 0; rowBase < np; rowBase += superRows) {
      const buffers = {
        qU: uniform(qPacked, rowBase * dp),
        dk: uniform(dkPacked, win * dp * w),
        lpos: lpos.binding,
        statsIn: uniform(prev.stats, rowBase * 32),
        stats: next.stats.binding,
        ...(withGrad ? { kd: uniform(kdPacked, win * dp * w), accIn: uniform(prev.acc, rowBase * dp), acc: next.acc.binding } : {}),
      };
      gpu().run(spec('nce_window'), buffers, { ...base, keyBase: win * w, rowBase, first: win === 0 ? 1 : 0 }, [Math.min(superRows, np - rowBase) / NCE_WINDOW_ROWS]);
    }
  }
  const { stats, acc } = state[(windows - 1) % 2]!;
  qPacked.dispose();
  dkPacked.dispose();
  kdPacked.dispose();
  const rowLoss = Tensor.empty([n]);
  const ranks = Tensor.empty([n], 'u32');
  const expect = withGrad ? Tensor.empty([n, dim]) : null;
  const unusedExpect = expect ? null : Tensor.empty([1]);
  gpu().run(
    spec('nce_window_combine'),
    { lpos: lpos.binding, stats: stats.binding, acc: acc.binding, kpos: k.binding, rowLoss: rowLoss.binding, rank: ranks.binding, expect: (expect ?? unusedExpect!).binding },
    base,
    grid(Math.ceil(n / 64)),
  );
  lpos.dispose();
  for (const t of state) [t.stats, t.acc].forEach((x) => x.dispose());
  unusedExpect?.dispose();
  return { rowLoss, ranks, expect };
}
