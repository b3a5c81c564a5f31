// Checkpoints of a run: one folder per saved step, written as `<name>.tmp` and renamed into place
// (a crash leaves the previous checkpoint intact), then `latest.json` is replaced atomically.
//   checkpoint.safetensors  the model in CSG's official names (encoder_q., encoder_k., queue3, queue_ptr3, …),
//                           loadable by PyTorch; its metadata holds `training_options` (JSON) so that a
//                           reader without trainer.json (the web page) knows the model and its input
//   optimizer.safetensors   SGD momentum buffers, `momentum.<parameter name>`
//   trainer.json            the step, the dropout seed state, the options
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic, fsyncDir } from '../io/atomic.js';
import { hostTensors, tensorEntry, toFloat32, type StateDict } from '../io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors-file.js';
import type { Module } from '../nn/index.js';
import type { Sgd } from '../csg/index.js';
import type { Tensor } from '../tensor/index.js';

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

const KEEP = 2;

/** Reads a module's whole state back from the GPU into safetensors entries. */
export async function moduleStateEntries(model: Module): Promise<StateDict> {
  const dict: StateDict = new Map();
  for (const [name, t] of await model.exportStateDict()) {
    dict.set(name, t.dtype === 'I64' ? tensorEntry('I64', t.shape, t.data as BigInt64Array) : tensorEntry('F32', t.shape, t.data as Float32Array));
  }
  return dict;
}

export async function saveCheckpoint(runDir: string, model: Module, sgd: Sgd, params: readonly Tensor[], state: TrainerState): Promise<string> {
  const name = `ckpt-${String(state.step).padStart(7, '0')}`;
  const final = join(runDir, name);
  const tmp = `${final}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeSafetensors(join(tmp, 'checkpoint.safetensors'), await moduleStateEntries(model), { format: 'pt', step: String(state.step), training_options: JSON.stringify(state.options) });
  const momentum: StateDict = new Map();
  for (const p of params) {
    const buf = sgd.momentumOf(p);
    if (buf) momentum.set(`momentum.${p.name}`, tensorEntry('F32', [...p.shape], (await buf.read()) as Float32Array));
  }
  writeSafetensors(join(tmp, 'optimizer.safetensors'), momentum);
  writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify(state, null, 2));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(runDir);
  writeFileAtomic(join(runDir, 'latest.json'), JSON.stringify({ checkpoint: name, step: state.step }));
  const old = readdirSync(runDir).filter((f) => /^ckpt-\d+$/.test(f)).sort();
  for (const f of old.slice(0, Math.max(0, old.length - KEEP))) rmSync(join(runDir, f), { recursive: true, force: true });
  return final;
}

/** A run folder (its latest checkpoint) or a checkpoint folder → the checkpoint folder. */
export function resolveCheckpoint(path: string): string {
  if (!existsSync(path)) throw new CheckpointError(`resume: ${path} does not exist`);
  if (existsSync(join(path, 'checkpoint.safetensors'))) return path;
  const latest = join(path, 'latest.json');
  if (!existsSync(latest)) throw new CheckpointError(`resume: ${path} holds neither checkpoint.safetensors nor latest.json`);
  const { checkpoint } = JSON.parse(readFileSync(latest, 'utf8')) as { checkpoint: string };
  const dir = join(path, basename(checkpoint));
  if (!existsSync(join(dir, 'checkpoint.safetensors'))) throw new CheckpointError(`resume: latest.json names ${dir}, which has no checkpoint.safetensors`);
  return dir;
}

/** Loads the model's state (weights, running statistics, queues and their pointers). */
export function loadModelState(dir: string, model: Module): void {
  model.loadStateDict(hostTensors(readSafetensors(join(dir, 'checkpoint.safetensors')).tensors));
}

/** Restores the SGD momentum buffers of the given (named) parameters. */
export function loadOptimizerState(dir: string, sgd: Sgd, params: readonly Tensor[]): void {
  const momentum = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
  for (const p of params) {
    const e = momentum.get(`momentum.${p.name}`);
    if (e) sgd.restoreMomentum(p, toFloat32(e, `momentum.${p.name}`));
  }
}

export function readTrainerState(dir: string): TrainerState {
  return JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8')) as TrainerState;
}
