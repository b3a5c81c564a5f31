// Writes a picture of the embedded digits task: synthetic training images, real validation and real
// test images, each above its labels.
//   npx tsx scripts/digits-samples.ts [out.png] [count] [classes] [smooth|cluttered]
import { loadDigitsTask, splitSample, type SynBackground } from '../src/data/digits.js';
import { sampleGrid } from '../src/data/picture.js';

const out = process.argv[2] ?? 'docs/digits-samples.png';
const count = Number(process.argv[3] ?? 8);
const classes = Number(process.argv[4] ?? 2) as 2 | 11;
const synBackground = (process.argv[5] ?? 'smooth') as SynBackground;
const task = loadDigitsTask({ classes, synBackground });
const section = (title: string, split: typeof task.trainSyn) => ({
  title,
  width: split.width,
  height: split.height,
  samples: Array.from({ length: Math.min(count, split.count) }, (_, i) => splitSample(split, i)),
});
sampleGrid(
  [section('synthetic (train)', task.trainSyn), section('real (validation: mnist train)', task.valReal), section('real (test: mnist t10k)', task.testReal)],
  task.palette,
).save(out);
console.log(`wrote ${out} (${task.classNames.join(', ')}; cached in ${task.cacheDir})`);
