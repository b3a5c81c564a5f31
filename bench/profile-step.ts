// npm run profile:step [-- train flags]: GPU time per kernel of one training step of the embedded
// default (or of the model the flags describe), from timestamp queries, after two warm-up steps.
// npm run profile:step -- --case NAME [--repeat N]: the same for one bench row (e.g. "deeplab50
// forward", "csg train step"): its median wall and process CPU time over N iterations, the time until
// recorded (for a row that records without waiting), and the GPU time per kernel family and kernel.
import { initGpu, gpu, closeGpu } from '../src/gpu/index.js';
import { parseTrainOptions } from '../src/cli/options.js';
import { DIGITS_DEFAULTS } from '../src/train/options.js';
import { buildModel } from '../src/train/train-seg.js';
import { openTaskData, recipeAugment } from '../src/data/task.js';
import { CsgTrainStep, stepConfig } from '../src/train/step.js';
import { trainBatch } from '../src/data/sampler.js';
import { suites } from './suites/index.js';

type Totals = Map<string, { count: number; ns: number }>;

function flagValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (value === undefined) throw new Error(`profile:step: ${name} needs a value`);
  argv.splice(i, 2);
  return value;
}

function printShares(totals: Totals, top: number): void {
  const sum = [...totals.values()].reduce((a, t) => a + t.ns, 0);
  const families: Totals = new Map();
  for (const [name, t] of totals) {
    const family = name.split('.')[0]!;
    const f = families.get(family) ?? { count: 0, ns: 0 };
    f.count += t.count;
    f.ns += t.ns;
    families.set(family, f);
  }
  const rows = (m: Totals, n: number) => {
    for (const [name, t] of [...m].sort((a, b) => b[1].ns - a[1].ns).slice(0, n)) {
      console.log(`${name.padEnd(40)} ${String(t.count).padStart(5)}× ${(t.ns / 1e6).toFixed(1).padStart(8)} ms ${((100 * t.ns) / sum).toFixed(1).padStart(5)} %`);
    }
  };
  console.log(`${(sum / 1e6).toFixed(0)} ms of kernel time in ${[...totals.values()].reduce((a, t) => a + t.count, 0)} dispatches`);
  console.log('-- per family (shaders/<family>.wgsl)');
  rows(families, families.size);
  console.log(`-- per kernel (top ${top})`);
  rows(totals, top);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Profiles one bench row: wall time, recording time and the GPU-time shares of one iteration. */
async function profileCase(name: string, repeat: number): Promise<void> {
  const cases = (await Promise.all(suites.map((s) => s()))).flat();
  const c = cases.find((x) => x.name === name);
  if (!c) throw new Error(`profile:step: no bench row named '${name}' (rows: ${cases.map((x) => x.name).join(', ')})`);
  const g = gpu();
  const record = await c.setup();
  // CPU time of the process (lavapipe's threads run in it) moves less than wall time on a shared machine.
  const iterate = async () => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await record();
    const recorded = performance.now() - t0;
    await g.encoder.sync();
    const c = process.cpuUsage(c0);
    return { wall: performance.now() - t0, recorded, cpu: (c.user + c.system) / 1000 };
  };
  for (let i = 0; i < 2; i++) console.log(`warm-up ${i}: ${(await iterate()).wall.toFixed(0)} ms`);
  const runs = [];
  for (let i = 0; i < repeat; i++) runs.push(await iterate());
  const dispatches = g.encoder.dispatchCount;
  await iterate();
  const perIteration = g.encoder.dispatchCount - dispatches;
  console.log(
    `${name}: ${median(runs.map((r) => r.wall)).toFixed(0)} ms wall (median of ${repeat}: ${runs.map((r) => r.wall.toFixed(0)).join(' ')}), ` +
      `${median(runs.map((r) => r.cpu)).toFixed(0)} ms CPU, ${median(runs.map((r) => r.recorded)).toFixed(0)} ms until recorded, ${perIteration} dispatches`,
  );
  g.encoder.startProfile();
  await iterate();
  printShares(await g.encoder.stopProfile(), 30);
  c.dispose?.();
}

/** Profiles one training step of the model the train flags describe. */
async function profileTrainStep(argv: string[]): Promise<void> {
  const o = parseTrainOptions(argv, { ...DIGITS_DEFAULTS, counts: '64,8,8,8' });
  const data = openTaskData(o);
  const { model, norm } = await buildModel(o, data.classNames.length, () => undefined);
  const step = new CsgTrainStep(model, stepConfig(o));
  const aug = recipeAugment(data.crop);
  const runStep = async (it: number) => {
    const b = trainBatch(data.train, o.batch, o.seed, it, aug, norm, o.csg > 0);
    const t0 = performance.now();
    await step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels });
    return performance.now() - t0;
  };
  for (let it = 0; it < 2; it++) console.log(`warm-up step ${it}: ${(await runStep(it)).toFixed(0)} ms`);
  const plain = await runStep(2);
  gpu().encoder.startProfile();
  const profiled = await runStep(3);
  console.log(`step: ${plain.toFixed(0)} ms wall; profiled step ${profiled.toFixed(0)} ms wall`);
  printShares(await gpu().encoder.stopProfile(), 25);
}

const argv = process.argv.slice(2);
const caseName = flagValue(argv, '--case');
const repeat = Number(flagValue(argv, '--repeat') ?? 3);
await initGpu();
if (caseName) await profileCase(caseName, repeat);
else await profileTrainStep(argv);
closeGpu();
