// npm run csg:step -- --ckpt FILE --batch FILE --steps N --out DIR [--start S] [model and recipe flags]
// The golden step: loads a CSG checkpoint (official names; a classification one when it holds
// encoder_q.fc_new.0.weight, its classes and hidden width read from it), runs N training steps exactly as training
// does (CsgTrainStep: EMA, losses, backward, SGD at the poly/warm-up rate of iteration s, enqueue) on the
// batches `input.step{s}.{im_q,im_k,label}` of the batch file, and writes DIR/step{s}.safetensors with
// what each step computed: output, csg.logits.stage3|4, the losses, grad.encoder_q.<name>, after.<name>.
// Checked against PyTorch by kernels-test/csg-step-parity.test.ts and csg-step-cls-parity.test.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initGpu, closeGpu } from '../gpu/index.js';
import { CsgClassifier, CsgDeepLab, type CsgModel } from '../csg/model.js';
import { readWeights, describeWeights } from '../io/weights.js';
import { tensorEntry, toFloat32, toInt32, type StateDict } from '../io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors-file.js';
import { hostTensors, moduleStateEntries } from '../train/checkpoint.js';
import { CsgTrainStep, stepConfig, type Stage, type StepBatch, type StepResult } from '../train/step.js';
import type { TrainOptions } from '../train/options.js';
import { parseTrainOptions, parseFlags, HELP, OptionError } from './options.js';
import { runCommand } from './run.js';

export interface CsgStepOptions extends TrainOptions {
  ckpt: string;
  /** The batch file (here --batch names a file: the batch size is the file's). */
  batchFile: string;
  steps: number;
  /** Iteration index s of the first step. */
  start: number;
}

const STEP_SPEC = {
  ckpt: { type: 'string' },
  batch: { type: 'string' },
  steps: { type: 'string' },
  start: { type: 'string' },
} as const;

/** csg:step's own flags, then train:seg's for the model and the recipe. */
export function parseCsgStepOptions(argv: string[]): CsgStepOptions & { help: boolean } {
  const own = new Set(Object.keys(STEP_SPEC).map((k) => `--${k}`));
  const mine: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag] = argv[i]!.split('=');
    if (own.has(flag!)) {
      mine.push(argv[i]!);
      if (!argv[i]!.includes('=') && i + 1 < argv.length) mine.push(argv[++i]!);
    } else {
      rest.push(argv[i]!);
    }
  }
  const { values } = parseFlags(mine, STEP_SPEC);
  // --iters means nothing here (--start and --steps say which steps run); the schedule is --iters-max's,
  // the recipe's 100,000 when it is not given.
  const o = parseTrainOptions(rest, { batch: 1, iters: 1, itersMax: 100_000 });
  if (o.help) return { ...o, ckpt: '', batchFile: '', steps: 0, start: 0 };
  if (!values.ckpt || !values.batch) throw new OptionError('--ckpt FILE and --batch FILE are required');
  const count = (flag: string, v: string | undefined, fallback: number, min: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new OptionError(`--${flag}: '${v}' must be an integer ≥ ${min}`);
    return n;
  };
  return { ...o, ckpt: values.ckpt, batchFile: values.batch, steps: count('steps', values.steps, 1, 1), start: count('start', values.start, 0, 0) };
}

export interface CsgStepRun {
  files: string[];
  results: StepResult[];
}

function stepBatch(tensors: StateDict, s: number, classification: boolean): StepBatch {
  const get = (name: string) => {
    const e = tensors.get(`input.step${s}.${name}`);
    if (!e) throw new OptionError(`--batch: no tensor input.step${s}.${name}`);
    return e;
  };
  const imQ = get('im_q');
  const imK = get('im_k');
  const label = get('label');
  const [n, c, height, width] = imQ.shape;
  if (imQ.shape.length !== 4 || c !== 3) throw new OptionError(`--batch: input.step${s}.im_q is [${imQ.shape}], expected [B, 3, H, W]`);
  if (imK.shape.join() !== imQ.shape.join()) throw new OptionError(`--batch: input.step${s}.im_k is [${imK.shape}], im_q [${imQ.shape}]`);
  const labelShape = classification ? [n] : [n, height, width];
  if (label.shape.join() !== labelShape.join()) throw new OptionError(`--batch: input.step${s}.label is [${label.shape}], expected [${labelShape}]`);
  return { n: n!, height: height!, width: width!, images: toFloat32(imQ), keys: toFloat32(imK), labels: toInt32(label) };
}

/**
 * The model from the flags, its whole state from the checkpoint (strict); K and the key dimension are
 * the checkpoint's, and so are a classifier's classes and hidden width.
 */
function loadModel(o: CsgStepOptions, log: (line: string) => void): CsgModel {
  const weights = readWeights(o.ckpt);
  log(describeWeights(o.ckpt, weights));
  const state = weights.tensors;
  const queue = state.get('queue3');
  if (!queue || queue.shape.length !== 2) throw new OptionError(`--ckpt: ${o.ckpt} has no queue3 [dim, K]: not a CSG checkpoint`);
  const common = { layers: o.layers, width: o.width, strideIn1x1: weights.layout === 'caffe', seed: o.seed, dim: queue.shape[0], queueSize: queue.shape[1] };
  const hidden = state.get('encoder_q.fc_new.0.weight');
  const model: CsgModel = hidden
    ? new CsgClassifier({ ...common, hidden: hidden.shape[0], classes: state.get('encoder_q.fc_new.2.weight')?.shape[0] })
    : new CsgDeepLab({ ...common, headWidth: o.headWidth, classes: o.classes, headDropout: o.dropout });
  model.loadStateDict(hostTensors(state));
  return model;
}

/** Runs the steps and writes DIR/step{s}.safetensors for each; shared by the CLI and the parity test. */
export async function runCsgSteps(o: CsgStepOptions, log: (line: string) => void = () => {}): Promise<CsgStepRun> {
  const inputs = readSafetensors(o.batchFile).tensors;
  const model = loadModel(o, log);
  const stages = o.stages as Stage[];
  const step = new CsgTrainStep(model, stepConfig(o));
  mkdirSync(o.out, { recursive: true });
  const run: CsgStepRun = { files: [], results: [] };
  try {
    for (let s = o.start; s < o.start + o.steps; s++) {
      const out: StateDict = new Map();
      const f32 = async (name: string, t: { shape: readonly number[]; readFloat32(): Promise<Float32Array> }) =>
        out.set(name, tensorEntry('F32', [...t.shape], await t.readFloat32()));
      const result = await step.run(s, stepBatch(inputs, s, model instanceof CsgClassifier), {
        inspect: async ({ logits, nceLogits }) => {
          await f32('output', logits);
          for (const stage of stages) await f32(`csg.logits.stage${stage}`, nceLogits[stage]!);
        },
        afterBackward: async (params) => {
          for (const [name, p] of params) await f32(`grad.${name}`, p.grad!);
        },
      });
      const scalar = (name: string, v: number) => out.set(name, tensorEntry('F32', [1], Float32Array.of(v)));
      scalar('loss.ce', result.ce);
      for (const stage of stages) if (result.nce[stage] !== undefined) scalar(`loss.nce.stage${stage}`, result.nce[stage]!);
      scalar('loss.total', result.total);
      for (const [name, e] of await moduleStateEntries(model)) out.set(`after.${name}`, e);
      const file = join(o.out, `step${s}.safetensors`);
      writeSafetensors(file, out, { step: String(s) });
      run.files.push(file);
      run.results.push(result);
      log(`step ${s}: ce ${result.ce.toFixed(5)}${stages.map((st) => ` nce${st} ${result.nce[st]?.toFixed(5) ?? '-'}`).join('')} total ${result.total.toFixed(5)} → ${file}`);
    }
  } finally {
    step.dispose();
    model.dispose();
  }
  return run;
}

async function main(): Promise<void> {
  const o = parseCsgStepOptions(process.argv.slice(2));
  if (o.help) {
    console.log(`npm run csg:step -- --ckpt FILE --batch FILE --steps N --out DIR [--start S] [flags]\n${HELP}`);
    return;
  }
  await initGpu();
  await runCsgSteps(o, (line) => process.stderr.write(`${line}\n`));
  closeGpu();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runCommand('csg:step', main);
}
