// npm run eval:seg -- --ckpt RUN_DIR|FILE --val cityscapes:DIR|digits: evaluates a checkpoint (a CSG
// checkpoint in the official names, its encoder_q; a plain DeepLab state dict; .safetensors or a PyTorch
// .pth/.pth.tar) on whole images and prints the per-class IoU table. The architecture and the input
// normalisation come from the checkpoint.
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { initGpu, closeGpu } from '../gpu/index.js';
import { loadSegmentationModel, readSegmentationCheckpoint } from '../train/seg-model.js';
import { assertFiniteState } from '../train/checkpoint.js';
import { openTaskData } from '../data/task.js';
import { datasetSource, type SampleSource } from '../data/sampler.js';
import { openSegDataset, CITYSCAPES_CLASSES } from '../data/cityscapes.js';
import { evaluate } from '../eval/evaluate.js';
import { formatIouTable } from '../eval/confusion.js';
import { parseTrainOptions, HELP, OptionError } from './options.js';
import { runCommand } from './run.js';
import { DIGITS_DEFAULTS } from '../train/options.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values, tokens } = parseArgs({ args: argv, options: { ckpt: { type: 'string' }, split: { type: 'string' } }, strict: false, tokens: true });
  const rest = argv.filter((_, i) => !tokens.some((t) => t.kind === 'option' && ['ckpt', 'split'].includes(t.name) && (t.index === i || t.index + 1 === i)));
  const embedded = !rest.some((a) => a.startsWith('--val'));
  const o = parseTrainOptions(rest, embedded ? DIGITS_DEFAULTS : {});
  if (o.help) {
    console.log(`npm run eval:seg -- --ckpt FILE|RUN_DIR [--val cityscapes:DIR | digits] [--split 'real test']\n(FILE: .safetensors, .pth or .pth.tar; the model's blocks, widths, classes and input normalisation come from it)\n${HELP}`);
    return;
  }
  if (!values.ckpt) throw new OptionError('--ckpt FILE|RUN_DIR is needed: the checkpoint to evaluate');
  const checkpoint = readSegmentationCheckpoint(String(values.ckpt));
  await initGpu();
  const { model, norm, file, description, architecture } = loadSegmentationModel(String(values.ckpt), checkpoint);
  process.stderr.write(`${description}\n`);
  await assertFiniteState(model, file);
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
  if (architecture.classes !== classes) throw new Error(`${file}: the checkpoint predicts ${architecture.classes} classes, ${split.name} has ${classes}`);
  const bar = new cliProgress.SingleBar({ format: 'eval {bar} {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(split.count, 0);
  const r = await evaluate(model, split, { classes, norm, batch: embedded ? 16 : 1, progress: (d) => bar.update(d) });
  bar.stop();
  console.log(`${split.name} (${split.count} images) with ${file}:\n${formatIouTable(classNames, r.confusion.iou(), r.confusion.miou(), r.confusion.pixelAccuracy())}`);
  closeGpu();
}

runCommand('eval:seg', main);
