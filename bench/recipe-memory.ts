// npm run bench:memory -- [--model deeplab101] [--K 65536] [--points 64x2,64x4,128x2,128x3]
//   [--hold-out 256x2,128x6] [--predict 512x6] [--steps 2] [--side ours|torch|both] [--json FILE] [--reuse FILE,…]
// The peak memory of the recipe's CSG training step (bench/suites/model.ts stepCase: CsgTrainStep on
// CsgDeepLab, head 256, 19 classes, chunks 8, λ 75) at sizes this machine can run: ours is the buffer
// pool's high-water mark over `steps` steps (the second step holds SGD's momentum too), PyTorch's the
// peak of its live tensor bytes over building the model and the same steps (bench/peers.ts). Each
// side fits peak = fixed + perImage·B + perPixel·B·S² on --points, checks it on --hold-out and
// extrapolates to --predict (the recipe: 512², batch 6). Times are not measured. A point takes minutes
// (R101 256² b2: about half an hour under load): --reuse takes the figures of earlier --json files
// of the same model, K and steps, and measures only what they lack.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initGpu, closeGpu, gpu, adapterName } from '../src/gpu/index.js';
import { MODEL_LAYERS, RECIPE } from '../src/train/options.js';
import type { BenchCase } from './harness.js';
import { torchTensorPeakMiB } from './peers.js';
import { stepCase, torchPrelude, STEP_TORCH_STATEMENT, type Shape4 } from './suites/model.js';
import { fitMemory, predictMiB, type MemoryFit, type MemoryPoint } from './memory-fit.js';

// A bad flag or --reuse file ends the command with one line, not a stack trace.
process.on('uncaughtException', (e) => {
  console.error(`bench:memory: ${e.message}`);
  process.exit(1);
});

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'deeplab101' },
    K: { type: 'string', default: String(RECIPE.K) },
    points: { type: 'string', default: '64x2,64x4,128x2,128x3' },
    'hold-out': { type: 'string', default: '256x2,128x6' },
    predict: { type: 'string', default: `${RECIPE.crop}x${RECIPE.batch}` },
    steps: { type: 'string', default: '2' },
    side: { type: 'string', default: 'both' },
    json: { type: 'string' },
    reuse: { type: 'string', default: '' },
  },
});

function sizes(flag: string, text: string): { size: number; batch: number }[] {
  return text
    .split(',')
    .filter(Boolean)
    .map((item) => {
      const m = /^(\d+)x(\d+)$/.exec(item);
      // Multiples of 64 keep every stage's map a whole 8×8 grid of patches, as at 512²; ASPP's image
      // pooling ends in a BatchNorm in training mode, which needs two images or more.
      if (!m || Number(m[1]) % 64 !== 0 || Number(m[2]) < 2) throw new Error(`--${flag}: '${item}' is not SIZExBATCH with SIZE a multiple of 64 and BATCH ≥ 2 (e.g. 128x2)`);
      return { size: Number(m[1]), batch: Number(m[2]) };
    });
}

const layers = MODEL_LAYERS[values.model];
if (!layers || !values.model.startsWith('deeplab')) throw new Error(`--model: '${values.model}' is not one of deeplab50, deeplab101`);
const queueSize = Number(values.K);
const steps = Number(values.steps);
if (!Number.isInteger(queueSize) || queueSize < 1) throw new Error(`--K: '${values.K}' must be a positive integer`);
if (!['ours', 'torch', 'both'].includes(values.side)) throw new Error(`--side: '${values.side}' is not ours, torch or both`);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps: '${values.steps}' must be a positive integer`);
const fitted = sizes('points', values.points);
const heldOut = sizes('hold-out', values['hold-out']);
const predicted = sizes('predict', values.predict);

/** Our pool's peak above what was in use before the case's setup, over `steps` steps. */
async function oursMiB(c: BenchCase): Promise<number> {
  const pool = gpu().pool;
  pool.trim(); // the previous case's freed buffers would stay in (host) memory
  const before = pool.stats.bytesInUse;
  pool.resetPeak();
  const record = await c.setup();
  for (let i = 0; i < steps; i++) {
    await record();
    await gpu().encoder.sync();
  }
  const peak = pool.stats.peakBytesInUse - before;
  c.dispose?.();
  pool.trim();
  return peak / 2 ** 20;
}

interface Row {
  size: number;
  batch: number;
  role: 'fit' | 'hold-out';
  oursMiB?: number;
  torchMiB?: number;
}

interface Measured {
  model: string;
  queueSize: number;
  steps: number;
  rows: Row[];
}

/** Figures of earlier runs of the same model, K and steps, by `${size}x${batch}`. */
function reusedRows(): Map<string, Pick<Row, 'oursMiB' | 'torchMiB'>> {
  const reused = new Map<string, Pick<Row, 'oursMiB' | 'torchMiB'>>();
  for (const file of values.reuse.split(',').filter(Boolean)) {
    const m = JSON.parse(readFileSync(file, 'utf8')) as Measured;
    if (m.model !== values.model || m.queueSize !== queueSize || m.steps !== steps) {
      throw new Error(`--reuse: ${file} measured ${m.model}, K ${m.queueSize}, ${m.steps} steps; this run is ${values.model}, K ${queueSize}, ${steps} steps`);
    }
    for (const r of m.rows) {
      const key = `${r.size}x${r.batch}`;
      const known = reused.get(key) ?? {};
      reused.set(key, { oursMiB: known.oursMiB ?? r.oursMiB, torchMiB: known.torchMiB ?? r.torchMiB });
    }
  }
  return reused;
}

const reused = reusedRows();
await initGpu();
console.log(`adapter: ${adapterName(gpu().adapter)}; ${values.model} [${layers.join(', ')}], K ${queueSize}, ${steps} steps per point`);
const rows: Row[] = [];
for (const [role, list] of [['fit', fitted], ['hold-out', heldOut]] as const) {
  for (const { size, batch } of list) {
    const input: Shape4 = [batch, 3, size, size];
    const row: Row = { size, batch, role, ...reused.get(`${size}x${batch}`) };
    if (values.side !== 'torch' && row.oursMiB === undefined) row.oursMiB = await oursMiB(stepCase(`recipe step ${size}² b${batch}`, input, steps, { layers, queueSize }));
    if (values.side !== 'ours' && row.torchMiB === undefined) row.torchMiB = await torchTensorPeakMiB(torchPrelude(input, { layers, queueSize }), STEP_TORCH_STATEMENT, steps);
    rows.push(row);
    const mib = (side: string, v: number | undefined) => (v === undefined ? '' : `  ${side} ${v.toFixed(0)} MiB`);
    console.log(`${role.padEnd(8)} ${`${size}² b${batch}`.padEnd(10)} B·S² ${String(batch * size * size).padStart(8)}${mib('ours', row.oursMiB)}${mib('PyTorch', row.torchMiB)}`);
    if (values.json) writeFileSync(values.json, JSON.stringify({ model: values.model, layers, queueSize, steps, rows } satisfies Measured & { layers: number[] }, null, 2));
  }
}
closeGpu();

function report(side: string, pick: (r: Row) => number | undefined): MemoryFit | null {
  const points = (role: Row['role']): MemoryPoint[] =>
    rows.filter((r) => r.role === role && pick(r) !== undefined).map((r) => ({ size: r.size, batch: r.batch, mib: pick(r)! }));
  const fitPoints = points('fit');
  if (fitPoints.length < 3) return null;
  const fit = fitMemory(fitPoints);
  const worst = Math.max(...fitPoints.map((p) => Math.abs(predictMiB(fit, p.size, p.batch) - p.mib) / p.mib));
  console.log(
    `${side}: peak ≈ ${fit.fixedMiB.toFixed(0)} MiB + ${fit.perImageMiB.toFixed(1)} MiB·B + ${((fit.perPixelMiB * 2 ** 20) / 1024).toFixed(2)} KiB·B·S²` +
      ` (worst residual on the fitted points ${(100 * worst).toFixed(1)} %)`,
  );
  for (const p of points('hold-out')) {
    const guess = predictMiB(fit, p.size, p.batch);
    console.log(`  held out ${p.size}² b${p.batch}: predicted ${guess.toFixed(0)} MiB, measured ${p.mib.toFixed(0)} MiB (${((100 * (guess - p.mib)) / p.mib).toFixed(1)} %)`);
  }
  for (const p of predicted) {
    const guess = predictMiB(fit, p.size, p.batch);
    console.log(`  predicted ${p.size}² b${p.batch}: ${guess.toFixed(0)} MiB = ${((guess * 2 ** 20) / 1e9).toFixed(1)} GB`);
  }
  return fit;
}

const fits = { ours: report('ours', (r) => r.oursMiB), torch: report('PyTorch', (r) => r.torchMiB) };
if (values.json) writeFileSync(values.json, JSON.stringify({ model: values.model, layers, queueSize, steps, rows, fits }, null, 2));
