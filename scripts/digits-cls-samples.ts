// Writes a picture of the embedded classification task: one row per split (synthetic train, synthetic
// val, real val from MNIST train, real test from MNIST t10k), each image with its label in red.
//   npx tsx scripts/digits-cls-samples.ts [out.png] [count]
import { clsSample, CLS_SPLITS, loadDigitsClsTask } from '../src/data/digits-cls.js';
import { Canvas } from '../src/data/picture.js';

const out = process.argv[2] ?? 'docs/digits-cls-samples.png';
const count = Number(process.argv[3] ?? 20);
const task = loadDigitsClsTask();
const side = task.config.size;
const canvas = new Canvas(side * count, side * CLS_SPLITS.length);
CLS_SPLITS.forEach((split, row) => {
  for (let i = 0; i < Math.min(count, task[split].count); i++) {
    const s = clsSample(task[split], i);
    canvas.blit(i * side, row * side, s.image, s.width, s.height);
    canvas.text(i * side + 2, row * side + 2, task.classNames[s.label], [255, 0, 0]);
  }
});
canvas.save(out);
console.log(`wrote ${out} (rows: ${CLS_SPLITS.join(', ')}; cached in ${task.cacheDir})`);
