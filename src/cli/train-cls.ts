// npm run train:cls [-- flags]: CSG for classification on the embedded synthetic→real digit task by
// default, or on VisDA-17 with --train visda:DIR --val visda:DIR (recipe §5).
import { initGpu, closeGpu } from '../gpu/index.js';
import { trainCls } from '../train/train-cls.js';
import { HELP } from './options.js';
import { parseClsOptions, describeClsRun } from './cls-options.js';
import { trainWatched, runCommand } from './run.js';

runCommand('train:cls', async () => {
  const o = parseClsOptions(process.argv.slice(2));
  if (o.help) {
    console.log(`npm run train:cls [-- flags]\n  --train visda:DIR --val visda:DIR   VisDA-17 (default: the embedded digit task)\n  --reg weight-l2:W | feature-l2:W     L2 pull towards the ImageNet start (compare:cls's comparison points)\n  --input-scale 255 | unit             the npm ResNet-50's inputs: 0–255 (default) or unit scale with conv1 rescaled\n${HELP}`);
    return;
  }
  process.stderr.write(describeClsRun(o));
  await initGpu();
  const summary = await trainWatched((hooks) => trainCls(o, hooks));
  process.stderr.write(`\nrun folder: ${o.out} (summary.json, metrics.jsonl, predictions.png, curves.png, checkpoints)\n`);
  const pct = (x: number) => (100 * x).toFixed(2);
  process.stderr.write(
    `real-domain mean per-class accuracy ${pct(summary.acc_real)}${summary.acc_syn !== null ? `, synthetic-domain ${pct(summary.acc_syn)}` : ''} ` +
      `(chance ${pct(summary.chance)}, best constant prediction ${pct(summary.best_constant)}), ${summary.wall_seconds.toFixed(0)} s\n`,
  );
  closeGpu();
});
