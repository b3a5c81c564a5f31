// npm run profile:step [-- train flags]: GPU time per kernel of one training step of the embedded
// default (or of the model the flags describe), from timestamp queries, after two warm-up steps.
import { initGpu, gpu, closeGpu } from '../src/gpu/index.js';
import { parseTrainOptions } from '../src/cli/options.js';
import { DIGITS_DEFAULTS } from '../src/train/options.js';
import { buildModel } from '../src/train/train-seg.js';
import { openTaskData, recipeAugment } from '../src/data/task.js';
import { CsgTrainStep, stepConfig } from '../src/train/step.js';
import { trainBatch } from '../src/data/sampler.js';

const o = parseTrainOptions(process.argv.slice(2), { ...DIGITS_DEFAULTS, counts: '64,8,8,8' });
await initGpu();
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
const totals = [...(await gpu().encoder.stopProfile())].sort((a, b) => b[1].ns - a[1].ns);
const sum = totals.reduce((a, [, t]) => a + t.ns, 0);
console.log(`step: ${plain.toFixed(0)} ms wall; profiled step ${profiled.toFixed(0)} ms wall, ${(sum / 1e6).toFixed(0)} ms of kernel time in ${totals.reduce((a, [, t]) => a + t.count, 0)} dispatches`);
for (const [name, t] of totals.slice(0, 25)) {
  console.log(`${name.padEnd(40)} ${String(t.count).padStart(5)}× ${(t.ns / 1e6).toFixed(1).padStart(8)} ms ${((100 * t.ns) / sum).toFixed(1).padStart(5)} %`);
}
closeGpu();
