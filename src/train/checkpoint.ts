// Checkpoints of a run: one folder per saved step, written as `<name>.tmp` and renamed into place
// (a crash leaves the previous checkpoint intact), then `latest.json` is swapped (run-folder.ts) before
// any older checkpoint is deleted. Only finite state is written: one GPU count of the Inf/NaN values of
// every weight, buffer and momentum buffer comes first.
//   checkpoint.safetensors  the model in CSG's official names (encoder_q., encoder_k., queue3, queue_ptr3, …),
//                           loadable by PyTorch; its metadata holds `training_options` (JSON) so that a
//                           reader without trainer.json (the web page) knows the model and its input
//   optimizer.safetensors   SGD momentum buffers, `momentum.<parameter name>`
//   trainer.json            the step, the dropout seed state, the options
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, fsyncDir } from '../io/atomic.js';
import { faultPoint } from '../io/fault-point.js';
import { hostTensors, tensorEntry, toFloat32, type StateDict } from '../io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors-file.js';
import { countNonFinite } from '../ops/index.js';
import { Tensor } from '../tensor/index.js';
import type { Module, HostTensor } from '../nn/index.js';
import type { Sgd } from '../csg/index.js';
import { checkpointName, diskError, ensureSpace, publishCheckpoint, readLatest } from './run-folder.js';

export interface TrainerState {
  /** Steps completed: training resumes at this iteration. */
  step: number;
  dropout: { base: number; calls: number };
  options: unknown;
}

// Kept here too for the callers that load checkpoints (the conversion itself is format-level, in io).
export { hostTensors };

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The state to be saved holds Inf or NaN: nothing was written. */
export class NonFiniteStateError extends Error {
  override name = 'NonFiniteStateError';
  constructor(
    readonly step: number,
    readonly bad: string[],
    readonly total: number,
    after = '',
  ) {
    super(`step ${step}: ${bad.length} of ${total} state tensors hold Inf or NaN (${listNames(bad)}); no checkpoint written${after ? `; ${after}` : ''}`);
  }
}

const KEEP = 2;

function listNames(names: readonly string[], max = 4): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, … (${names.length} in all)`;
}

/** The names of the given tensors that hold Inf or NaN: one GPU reduction, one small readback. */
export async function nonFiniteNames(named: readonly [string, Tensor][]): Promise<string[]> {
  if (!named.length) return [];
  const counts = countNonFinite(named.map(([, t]) => t));
  const values = await counts.read();
  counts.dispose();
  return named.filter((_, i) => values[i]! > 0).map(([name]) => name);
}

/** A module's float state (weights, running statistics, queues) by name. */
function floatState(model: Module): [string, Tensor][] {
  return [...model.stateDict()].filter((e): e is [string, Tensor] => e[1] instanceof Tensor);
}

/** Reads a module's whole state back from the GPU into safetensors entries. */
export async function moduleStateEntries(model: Module): Promise<StateDict> {
  const dict: StateDict = new Map();
  for (const [name, t] of await model.exportStateDict()) {
    dict.set(name, t.dtype === 'I64' ? tensorEntry('I64', t.shape, t.data as BigInt64Array) : tensorEntry('F32', t.shape, t.data as Float32Array));
  }
  return dict;
}

const dictBytes = (d: StateDict): number => [...d.values()].reduce((s, e) => s + e.data.byteLength, 0);

/**
 * Saves the model, the momentum buffers and the trainer state as checkpoint `state.step` of the run,
 * makes it the live one and deletes older ones beyond the newest two. Refuses (NonFiniteStateError)
 * when any of the state holds Inf or NaN; disk errors name the folder and the bytes needed. `metadata`
 * goes into checkpoint.safetensors beside the step (the backbone layout tags, see io/weights.ts).
 */
export async function saveCheckpoint(runDir: string, model: Module, sgd: Sgd, params: readonly Tensor[], state: TrainerState, metadata: Record<string, string> = {}): Promise<string> {
  const momentumOf = params.flatMap((p): [string, Tensor][] => {
    const buf = sgd.momentumOf(p);
    return buf ? [[`momentum.${p.name}`, buf]] : [];
  });
  const checked = [...floatState(model), ...momentumOf];
  const bad = await nonFiniteNames(checked);
  if (bad.length) throw new NonFiniteStateError(state.step, bad, checked.length);

  const name = checkpointName(state.step);
  const final = join(runDir, name);
  if (readLatest(runDir)?.name === name) throw new CheckpointError(`${final} is the live checkpoint already: a step is saved once`);
  const weights = await moduleStateEntries(model);
  const momentum: StateDict = new Map();
  for (const [key, buf] of momentumOf) momentum.set(key, tensorEntry('F32', [...buf.shape], (await buf.read()) as Float32Array));
  const bytes = dictBytes(weights) + dictBytes(momentum) + 1_000_000; // + headers and trainer.json
  ensureSpace(runDir, bytes, `checkpoint ${name}`);
  const tmp = `${final}.tmp`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    faultPoint('checkpoint-tmp');
    writeSafetensors(join(tmp, 'checkpoint.safetensors'), weights, { ...metadata, format: 'pt', step: String(state.step), training_options: JSON.stringify(state.options) });
    writeSafetensors(join(tmp, 'optimizer.safetensors'), momentum);
    writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify(state, null, 2));
    faultPoint('checkpoint-rename');
    rmSync(final, { recursive: true, force: true }); // a stale folder of this step that latest.json does not name
    renameSync(tmp, final);
    fsyncDir(runDir);
    faultPoint('checkpoint-renamed');
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw diskError(e, runDir, bytes, `checkpoint ${name}`);
  }
  publishCheckpoint(runDir, { name, step: state.step }, KEEP);
  return final;
}

/** A run folder (its latest checkpoint) or a checkpoint folder → the checkpoint folder. */
export function resolveCheckpoint(path: string): string {
  if (!existsSync(path)) throw new CheckpointError(`${path} does not exist`);
  if (existsSync(join(path, 'checkpoint.safetensors'))) return path;
  const latest = readLatest(path);
  if (!latest) throw new CheckpointError(`${path} holds neither checkpoint.safetensors nor latest.json`);
  const dir = join(path, latest.name);
  if (!existsSync(join(dir, 'checkpoint.safetensors'))) throw new CheckpointError(`${join(path, 'latest.json')} names ${dir}, which has no checkpoint.safetensors`);
  return dir;
}

/**
 * Loads `source` into `model` strictly: every entry of the model must be there with its shape, and
 * every entry of the source must be used, except those `unused` matches (parts the model leaves out).
 * The error names the file and what is missing or unexpected.
 */
export function loadStrict(model: Module, source: Map<string, HostTensor>, file: string, unused: (name: string) => boolean = () => false): void {
  const wanted = new Map([...source].filter(([name]) => !unused(name)));
  const own = model.stateDict();
  const missing = [...own.keys()].filter((k) => !wanted.has(k));
  const unexpected = [...wanted.keys()].filter((k) => !own.has(k));
  if (missing.length || unexpected.length) {
    const parts = [
      missing.length ? `${missing.length} model entries are missing (${listNames(missing)})` : '',
      unexpected.length ? `${unexpected.length} entries are not in the model (${listNames(unexpected)})` : '',
    ].filter(Boolean);
    throw new CheckpointError(`${file} does not fit the model: ${parts.join('; ')}; do the model flags (--model, --layers, --width, --head-width, --classes) match the run's?`);
  }
  try {
    model.loadStateDict(wanted);
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message}`);
  }
}

/**
 * The segmentation network's entries in a checkpoint file: a CSG checkpoint's student (encoder_q, the
 * prefix dropped) or a plain DeepLab state dict; `unused` matches what a segmentation model leaves
 * out of a CSG checkpoint (the teacher, the queues, the projection heads). For eval and predict.
 */
export function segmentationState(dict: StateDict): { state: Map<string, HostTensor>; isCsg: boolean; unused: (name: string) => boolean } {
  const isCsg = [...dict.keys()].some((k) => k.startsWith('encoder_q.'));
  const state = new Map([...hostTensors(dict)].map(([k, v]) => [isCsg && k.startsWith('encoder_q.') ? k.slice('encoder_q.'.length) : k, v]));
  const unused = (name: string) => isCsg && (name.startsWith('encoder_k.') || /^queue(_ptr)?\d$/.test(name) || name.startsWith('fc_csg.'));
  return { state, isCsg, unused };
}

/** Refuses a model whose loaded state holds Inf or NaN (one GPU count), naming the file. */
export async function assertFiniteState(model: Module, file: string): Promise<void> {
  const named = floatState(model);
  const bad = await nonFiniteNames(named);
  if (bad.length) throw new CheckpointError(`${file}: ${bad.length} of ${named.length} tensors hold Inf or NaN (${listNames(bad)}): the weights diverged`);
}

/** Loads the model's whole state (weights, running statistics, queues and their pointers), strictly. */
export async function loadModelState(dir: string, model: Module): Promise<void> {
  const file = join(dir, 'checkpoint.safetensors');
  loadStrict(model, hostTensors(readSafetensors(file).tensors), file);
  await assertFiniteState(model, file);
}

/** Restores the SGD momentum buffers of the given (named) parameters; entries for no parameter are an error. */
export function loadOptimizerState(dir: string, sgd: Sgd, params: readonly Tensor[]): void {
  const file = join(dir, 'optimizer.safetensors');
  const momentum = readSafetensors(file).tensors;
  const known = new Set(params.map((p) => `momentum.${p.name}`));
  const unexpected = [...momentum.keys()].filter((k) => !known.has(k));
  if (unexpected.length) throw new CheckpointError(`${file}: ${unexpected.length} momentum buffers of parameters the model does not train (${listNames(unexpected)})`);
  for (const p of params) {
    const e = momentum.get(`momentum.${p.name}`);
    if (!e) continue; // a parameter that had no gradient yet: its first step starts the buffer
    if (e.shape.join() !== p.shape.join()) throw new CheckpointError(`${file}: momentum.${p.name} is [${e.shape}], the parameter [${p.shape}]`);
    sgd.restoreMomentum(p, toFloat32(e, `momentum.${p.name}`));
  }
}

export function readTrainerState(dir: string): TrainerState {
  const file = join(dir, 'trainer.json');
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new CheckpointError(`${file}: ${(e as Error).message}`);
  }
  if (!Number.isSafeInteger(state?.step) || typeof state.dropout?.base !== 'number') throw new CheckpointError(`${file}: no step and dropout state in it`);
  return state;
}
