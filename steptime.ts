import { initGpu, gpu } from './src/gpu/index.js';
import { parseTrainOptions } from './src/cli/options.js';
import { DIGITS_DEFAULTS } from './src/cli/digits-defaults.js';
import { buildModel, openTaskData } from './src/train/train-seg.js';
import { CsgTrainStep } from './src/train/step.js';
import { trainBatch } from './src/data/sampler.js';
import { CSG_JITTER } from './src/data/augment.js';
const o = parseTrainOptions(process.argv.slice(2), { ...DIGITS_DEFAULTS, counts: '100,20,20,20' });
await initGpu({ verbose: false });
const data = openTaskData(o);
const { model, norm } = await buildModel(o, 2, () => {});
const step = new CsgTrainStep(model, { lambda: o.csg, stages: [3, 4], chunks: o.chunks, tau: o.tau, emaMomentum: 0.999, apool: true, mlp: true, baseLr: o.lr, itersMax: 200 });
for (let it = 0; it < 3; it++) {
  (globalThis as any).__counts = new Map();
  const t0 = performance.now();
  const b = trainBatch(data.train, o.batch, 0, it, { crop: [64, 64], scale: [0.75, 1.25], flip: true, jitter: CSG_JITTER }, norm, o.csg > 0);
  const t1 = performance.now();
  const r = await step.run(it, { n: b.n, height: b.height, width: b.width, images: b.images, keys: b.keys ?? null, labels: b.labels });
  const t2 = performance.now();
  console.log(`step ${it}: data ${(t1 - t0).toFixed(0)} ms, step ${(t2 - t1).toFixed(0)} ms, ce ${r.ce.toFixed(3)}`);
}
console.log([...(globalThis as any).__counts].sort((a: any, b: any) => b[1] - a[1]).slice(0, 25));
process.exit(0);
