// npm run train:seg [-- flags]: CSG on the embedded synthetic→real digits task by default, or on
// GTA5 → Cityscapes with --train gta5:DIR --val cityscapes:DIR.
import { initGpu, closeGpu } from '../gpu/index.js';
import { DIGITS_DEFAULTS } from '../train/options.js';
import { trainSeg } from '../train/train-seg.js';
import { parseTrainOptions, describeDefaults, HELP } from './options.js';
import { trainWatched, runCommand } from './run.js';

runCommand('train:seg', async () => {
  const argv = process.argv.slice(2);
  const embedded = !argv.some((a) => a.startsWith('--train'));
  const o = parseTrainOptions(argv, embedded ? DIGITS_DEFAULTS : {});
  if (o.help) {
    console.log(`npm run train:seg [-- flags]\n${HELP}`);
    return;
  }
  if (embedded) process.stderr.write(describeDefaults(o));
  await initGpu();
  const summary = await trainWatched((hooks) => trainSeg(o, hooks));
  process.stderr.write(`\nrun folder: ${o.out} (summary.json, metrics.jsonl, predictions.png, curves.png, checkpoints)\n`);
  process.stderr.write(`real-domain mIoU ${(100 * summary.miou_real).toFixed(2)}${summary.miou_syn !== null ? `, synthetic-domain mIoU ${(100 * summary.miou_syn).toFixed(2)}` : ''}, ${summary.wall_seconds.toFixed(0)} s\n`);
  closeGpu();
});
