// npm run eval:seg -- --ckpt FILE --val cityscapes:DIR|digits [model flags]: evaluates a checkpoint (a
// CSG checkpoint in the official names, its encoder_q; or a plain DeepLab state dict) on whole images
// and prints the per-class IoU table.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { initGpu, closeGpu } from '../gpu/index.js';
import { DeepLabResNet } from '../nn/index.js';
import { readSafetensors } from '../io/safetensors.js';
import { hostTensors, resolveCheckpoint } from '../train/checkpoint.js';
import { openTaskData } from '../data/task.js';
import { datasetSource, type SampleSource } from '../data/sampler.js';
import { openSegDataset, CITYSCAPES_CLASSES } from '../data/cityscapes.js';
import { evaluate } from '../eval/evaluate.js';
import { formatIouTable } from '../eval/confusion.js';
import { CAFFE_NORM, IMAGENET_NORM } from '../data/augment.js';
import { parseTrainOptions, HELP } from './options.js';
import { runCommand } from './run.js';
import { DIGITS_DEFAULTS } from '../train/options.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values, tokens } = parseArgs({ args: argv, options: { ckpt: { type: 'string' }, split: { type: 'string' } }, strict: false, tokens: true });
  const rest = argv.filter((_, i) => !tokens.some((t) => t.kind === 'option' && ['ckpt', 'split'].includes(t.name) && (t.index === i || t.index + 1 === i)));
  const embedded = !rest.some((a) => a.startsWith('--val'));
  const o = parseTrainOptions(rest, embedded ? DIGITS_DEFAULTS : {});
  if (o.help || !values.ckpt) {
    console.log(`npm run eval:seg -- --ckpt FILE|RUN_DIR [--val cityscapes:DIR | digits] [--split 'real test'] [model flags]\n${HELP}`);
    process.exit(values.ckpt ? 0 : 1);
  }
  let file = String(values.ckpt);
  if (existsSync(file) && statSync(file).isDirectory()) file = join(resolveCheckpoint(file), 'checkpoint.safetensors');
  const { tensors } = readSafetensors(file);
  const isCsg = [...tensors.keys()].some((k) => k.startsWith('encoder_q.'));
  const state = new Map([...hostTensors(tensors)].filter(([k]) => !isCsg || k.startsWith('encoder_q.')).map(([k, v]) => [isCsg ? k.slice('encoder_q.'.length) : k, v]));
  await initGpu();
  let classNames: string[];
  let split: SampleSource;
  if (embedded) {
    const data = openTaskData(o);
    const wanted = values.split ?? 'real test';
    const found = data.evals.find((e) => e.name === wanted) ?? (data.select?.name === wanted ? data.select : undefined);
    if (!found) throw new Error(`--split: no split named '${wanted}' (real test, synthetic val, real val)`);
    split = found.source;
    classNames = data.classNames;
  } else {
    split = datasetSource(openSegDataset(o.val));
    classNames = [...CITYSCAPES_CLASSES];
  }
  const classes = classNames.length;
  const model = new DeepLabResNet({ layers: o.layers, width: o.width, headWidth: o.headWidth, classes, strideIn1x1: o.weights === 'imagenet', fcOut: isCsg ? 128 : null });
  const { unexpected } = model.loadStateDict(state, { strict: false });
  const bar = new cliProgress.SingleBar({ format: 'eval {bar} {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(split.count, 0);
  const r = await evaluate(model, split, { classes, norm: o.weights === 'imagenet' ? CAFFE_NORM : IMAGENET_NORM, batch: embedded ? 16 : 1, progress: (d) => bar.update(d) });
  bar.stop();
  if (unexpected.length) process.stderr.write(`(${unexpected.length} checkpoint entries not used by the segmentation model, e.g. ${unexpected[0]})\n`);
  console.log(`${split.name} (${split.count} images) with ${file}:\n${formatIouTable(classNames, r.confusion.iou(), r.confusion.miou(), r.confusion.pixelAccuracy())}`);
  closeGpu();
}

runCommand('eval:seg', main);
