// Checkpoints on a tiny CSG model: only finite state is written (one GPU count names the tensors that
// are not), a step is saved once, and loading is strict for resume and evaluation: missing and
// unexpected entries are named with the file, and diverged weights are refused.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsgDeepLab } from '../src/csg/model.js';
import { DeepLabResNet } from '../src/nn/index.js';
import { CsgTrainStep, stepConfig } from '../src/train/step.js';
import { parseTrainOptions } from '../src/cli/options.js';
import { DIGITS_DEFAULTS } from '../src/train/options.js';
import {
  saveCheckpoint,
  loadModelState,
  loadStrict,
  assertFiniteState,
  segmentationState,
  moduleStateEntries,
  hostTensors,
  NonFiniteStateError,
} from '../src/train/checkpoint.js';
import { readLatest } from '../src/train/run-folder.js';
import { tensorEntry } from '../src/io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors-file.js';
import { useGpu } from './helpers.js';

useGpu();

const tiny = (layers = [1, 1, 1, 1]) => ({ layers, width: 8, headWidth: 16, classes: 2, queueSize: 64, seed: 1 });
const options = parseTrainOptions(['--weights', 'none', '--K', '64', '--chunks', '2', '--batch', '2'], DIGITS_DEFAULTS);
const state = (step: number) => ({ step, dropout: { base: 1, calls: 0 }, options });

function trainerOf(model: CsgDeepLab): CsgTrainStep {
  const step = new CsgTrainStep(model, stepConfig(options));
  for (const p of step.trainable) step.sgd.restoreMomentum(p, new Float32Array(p.size).fill(0.5)); // live momentum buffers
  return step;
}

test('a checkpoint is written from finite state only, and each step once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'csg-ckpt-'));
  const model = new CsgDeepLab(tiny());
  const step = trainerOf(model);
  const first = await saveCheckpoint(dir, model, step.sgd, step.trainable, state(1));
  expect(readLatest(dir)).toEqual({ name: 'ckpt-0000001', step: 1 });
  await expect(saveCheckpoint(dir, model, step.sgd, step.trainable, state(1))).rejects.toThrow(/ckpt-0000001 is the live checkpoint already: a step is saved once/);

  const weight = model.encoder_q.layer2.stateDict().get('0.conv2.weight') as import('../src/tensor/index.js').Tensor;
  const values = await weight.readFloat32();
  values[3] = NaN;
  weight.write(values);
  const momentum = step.sgd.momentumOf(step.trainable.at(-1)!)!;
  momentum.write(new Float32Array(momentum.size).fill(Infinity));
  const refused = saveCheckpoint(dir, model, step.sgd, step.trainable, state(2));
  await expect(refused).rejects.toThrow(NonFiniteStateError);
  await expect(refused).rejects.toThrow(new RegExp(`step 2: 2 of \\d+ state tensors hold Inf or NaN \\(encoder_q\\.layer2\\.0\\.conv2\\.weight, momentum\\.${step.trainable.at(-1)!.name.replace(/\./g, '\\.')}\\); no checkpoint written`));
  expect(readdirSync(dir).filter((f) => f.startsWith('ckpt-'))).toEqual(['ckpt-0000001']);
  expect(readLatest(dir)?.name).toBe('ckpt-0000001');

  // The saved one loads back; a checkpoint holding Inf is refused naming the file.
  const again = new CsgDeepLab(tiny());
  await loadModelState(first, again);
  const diverged = mkdtempSync(join(tmpdir(), 'csg-ckpt-inf-'));
  const dict = await moduleStateEntries(model);
  writeSafetensors(join(diverged, 'checkpoint.safetensors'), dict);
  await expect(loadModelState(diverged, again)).rejects.toThrow(/checkpoint\.safetensors: 1 of \d+ tensors hold Inf or NaN \(encoder_q\.layer2\.0\.conv2\.weight\): the weights diverged/);
  step.dispose();
  for (const m of [model, again]) m.dispose();
});

test('resume loading is strict: a checkpoint of other layers names what is missing or unexpected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'csg-ckpt-layers-'));
  const small = new CsgDeepLab(tiny());
  writeSafetensors(join(dir, 'checkpoint.safetensors'), await moduleStateEntries(small));
  const bigger = new CsgDeepLab(tiny([1, 1, 2, 1]));
  await expect(loadModelState(dir, bigger)).rejects.toThrow(
    /checkpoint\.safetensors does not fit the model: \d+ model entries are missing \(encoder_q\.layer3\.1\.conv1\.weight, .*\); do the model flags \(--model, --layers/,
  );
  const smallerFile = mkdtempSync(join(tmpdir(), 'csg-ckpt-layers2-'));
  writeSafetensors(join(smallerFile, 'checkpoint.safetensors'), await moduleStateEntries(bigger));
  await expect(loadModelState(smallerFile, small)).rejects.toThrow(/\d+ entries are not in the model \(encoder_k\.layer3\.1\.bn1\.bias, /);
  for (const m of [small, bigger]) m.dispose();
});

test('evaluation loads a CSG checkpoint strictly and refuses a file that lacks the model', async () => {
  const csg = new CsgDeepLab(tiny());
  const dict = await moduleStateEntries(csg);
  const seg = () => new DeepLabResNet({ ...tiny(), fcOut: 128 });
  const model = seg();
  const { state: full, unused, isCsg } = segmentationState(dict);
  expect(isCsg).toBe(true);
  loadStrict(model, full, 'run/ckpt/checkpoint.safetensors', unused);
  await assertFiniteState(model, 'run/ckpt/checkpoint.safetensors');

  const foo = segmentationState(new Map([['foo', tensorEntry('F32', [1], new Float32Array([1]))]]));
  expect(() => loadStrict(seg(), foo.state, 'foo.safetensors', foo.unused)).toThrow(
    /^foo\.safetensors does not fit the model: \d+ model entries are missing \(conv1\.weight, bn1\.weight, bn1\.bias, bn1\.running_mean, … \(\d+ in all\)\); 1 entries are not in the model \(foo\)/,
  );
  const deeper = segmentationState(hostTensorsBack(await moduleStateEntries(new CsgDeepLab(tiny([1, 1, 2, 1])))));
  expect(() => loadStrict(seg(), deeper.state, 'deeper.safetensors', deeper.unused)).toThrow(/entries are not in the model \(layer3\.1\.bn1\.bias/);
  csg.dispose();
  model.dispose();
});

/** The state dict as written and read back (the path eval takes). */
function hostTensorsBack(dict: Awaited<ReturnType<typeof moduleStateEntries>>) {
  const dir = mkdtempSync(join(tmpdir(), 'csg-ckpt-rt-'));
  writeSafetensors(join(dir, 'c.safetensors'), dict);
  expect(existsSync(join(dir, 'c.safetensors'))).toBe(true);
  expect(hostTensors(dict).size).toBe(dict.size);
  return readSafetensors(join(dir, 'c.safetensors')).tensors;
}
