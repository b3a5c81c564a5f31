// npm run eval:cls -- --ckpt RUN_DIR|FILE [--val visda:DIR | digits] [--split NAME] [model flags]:
// evaluates a classification checkpoint (a CSG one in the official names, its encoder_q; or a plain
// classifier state dict) by mean per-class accuracy with flip-averaged sigmoid scores, and prints the
// per-class table. The model flags default to the run's own (its trainer.json) when there is one.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { initGpu, closeGpu } from '../gpu/index.js';
import { readSafetensors } from '../io/safetensors-file.js';
import { CsgClassifierEncoder } from '../csg/model.js';
import { hostTensors, resolveCheckpoint } from '../train/checkpoint.js';
import { CAFFE_NORM, CAFFE_UNIT_NORM, IMAGENET_NORM } from '../data/augment.js';
import { openClsTaskData, formatAccuracyTable, type ClsTaskData, type ClsOptions } from '../train/train-cls.js';
import { openClsDataset } from '../data/visda.js';
import { visdaSource } from '../data/cls-sampler.js';
import { RECIPE_VIEW } from '../data/cls-augment.js';
import { parseClsOptions, takeFlags } from './cls-options.js';
import { evaluateClassifier } from '../eval/classify.js';
import { featureEnergy } from '../eval/energy.js';
import { HELP, OptionError } from './options.js';
import { runCommand } from './run.js';

const USAGE = `npm run eval:cls -- --ckpt RUN_DIR|FILE [--val visda:DIR | digits] [--split 'real test'|'real val'|'synthetic val'] [model flags]\n${HELP}`;

runCommand('eval:cls', async () => {
  const { taken, rest } = takeFlags(process.argv.slice(2), ['ckpt', 'split']);
  if (!taken.ckpt) {
    console.log(USAGE);
    process.exit(rest.includes('--help') ? 0 : 1);
  }
  let file = taken.ckpt;
  if (!existsSync(file)) throw new OptionError(`--ckpt: ${file} does not exist`);
  if (statSync(file).isDirectory()) file = join(resolveCheckpoint(file), 'checkpoint.safetensors');
  // The run's own options (model size, image size, weights convention) unless flags say otherwise.
  const trainerJson = join(dirname(file), 'trainer.json');
  const saved = existsSync(trainerJson) ? ((JSON.parse(readFileSync(trainerJson, 'utf8')) as { options: Partial<ClsOptions> }).options ?? {}) : {};
  const o = parseClsOptions(rest, saved);
  const { tensors } = readSafetensors(file);
  const isCsg = [...tensors.keys()].some((k) => k.startsWith('encoder_q.'));
  const state = new Map([...hostTensors(tensors)].filter(([k]) => !isCsg || k.startsWith('encoder_q.')).map(([k, v]) => [isCsg ? k.slice('encoder_q.'.length) : k, v]));
  const hidden = state.get('fc_new.0.weight');
  const last = state.get('fc_new.2.weight');
  if (!hidden || !last) throw new OptionError(`--ckpt: ${file} has no fc_new.0/fc_new.2 weights: not a classification checkpoint`);
  let data: Pick<ClsTaskData, 'evals' | 'select' | 'evalView' | 'evalFlip' | 'classNames'>;
  if (o.val === 'digits') {
    data = openClsTaskData({ ...o, train: 'digits' });
  } else {
    const source = visdaSource(openClsDataset(o.val, 'val'));
    data = { evals: [{ name: source.name, source }], select: null, evalView: { ...RECIPE_VIEW, randAugment: null }, evalFlip: true, classNames: source.classNames };
  }
  const splits = [...data.evals, ...(data.select ? [data.select] : [])];
  const wanted = taken.split ?? data.evals[0]!.name;
  const split = splits.find((e) => e.name === wanted);
  if (!split) throw new OptionError(`--split: no split named '${wanted}' (${splits.map((e) => e.name).join(', ')})`);
  if (last.shape[0] !== data.classNames.length) throw new OptionError(`--ckpt: ${file} classifies ${last.shape[0]} classes, ${split.name} has ${data.classNames.length}`);
  await initGpu();
  const model = new CsgClassifierEncoder({ layers: o.layers, width: o.width, classes: last.shape[0], hidden: hidden.shape[0], strideIn1x1: o.weights === 'imagenet' });
  const { unexpected } = model.loadStateDict(state, { strict: false });
  const bar = new cliProgress.SingleBar({ format: 'eval {bar} {value}/{total} images', stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(split.source.count, 0);
  const norm = o.weights === 'imagenet' ? (o.unitInput ? CAFFE_UNIT_NORM : CAFFE_NORM) : IMAGENET_NORM; // as the run trained (buildClsModel)
  const r = await evaluateClassifier(model, split.source, { classes: data.classNames.length, norm, view: data.evalView, flip: data.evalFlip, batch: 16, features: true, progress: (d) => bar.update(d) });
  bar.stop();
  if (unexpected.length) process.stderr.write(`(${unexpected.length} checkpoint entries not used by the classifier, e.g. ${unexpected[0]})\n`);
  console.log(`${split.name} (${split.source.count} images) with ${file}, per-class accuracy (%):\n${formatAccuracyTable(data.classNames, r)}`);
  console.log(`hyperspherical energy (s = 1, mean over pairs) of its stage-4 features: ${(await featureEnergy(r.features!, r.featureDim)).toFixed(4)}`);
  model.dispose();
  closeGpu();
});
