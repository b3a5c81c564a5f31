// The training core every task runs on: the run folder (config.json, metrics.jsonl), checkpoints and
// --resume, the NaN/∞ stop, metric logging, the evaluation cadence with best-of tracking, and the
// pause for kernel autotuning after the first step. A task (segmentation: train-seg.ts) supplies its
// model and optimiser, its step, its selection metric and its final summary. The core reports through
// hooks and never exits the process, draws a progress bar or handles signals: src/cli does (run.ts).
import { appendFileSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu, GpuError, tunePending, pendingTuning } from '../gpu/index.js';
import { dropoutSeedState, setDropoutSeedState, type Module } from '../nn/index.js';
import type { Sgd } from '../csg/index.js';
import type { Tensor } from '../tensor/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveCheckpoint, resolveCheckpoint, loadModelState, loadOptimizerState, readTrainerState, NonFiniteStateError, CheckpointError, type TrainerState } from './checkpoint.js';
import { openRunFolder, prepareResume, resumeDifferences, diskError, RunFolderError } from './run-folder.js';

/** What one training step reports. */
export interface StepReport {
  /** Named losses; the first that is NaN or infinite stops the run, by name. */
  losses: Record<string, number>;
  /** The fields of the step's metrics.jsonl line (after kind and step; the core adds it_per_s). */
  metrics: Record<string, unknown>;
  /** A short line for the person watching ('ce 0.4321 nce3 …'). */
  line: string;
}

/** A selection evaluation: the split, the metric's name and its value (higher is better). */
export interface Selection {
  split: string;
  metric: string;
  value: number;
}

export interface BestSelection extends Selection {
  /** Steps done when it was measured. */
  step: number;
}

/** What the core knows of a finished run, handed to the task's summary. */
export interface RunRecord {
  out: string;
  steps: number;
  metricsPath: string;
  /** The best selection evaluation of the run (resumed runs included), null when there was none. */
  best: BestSelection | null;
}

/** A task the core trains: segmentation today, classification next. */
export interface TrainTask<Summary> {
  /** Checkpoints hold this module's state (its state_dict names)... */
  model: Module;
  /** ...and the momentum of these parameters in this optimiser. */
  sgd: Sgd;
  params: readonly Tensor[];
  /** Tags written into checkpoint.safetensors (the backbone layout, see io/weights.ts). */
  checkpointMetadata?: Record<string, string>;
  /** Runs training step `it` (0-based). */
  step(it: number): Promise<StepReport>;
  /** Evaluates the selection split (every evalEvery steps); absent when the task has none. */
  select?: () => Promise<Selection>;
  /** After the final checkpoint: the final evaluation and pictures; the result goes to summary.json. */
  finish(run: RunRecord): Promise<Summary>;
  dispose(): void;
}

export interface CoreOptions {
  out: string;
  iters: number;
  /** A run folder or checkpoint folder to continue from. */
  resume: string | null;
  /** Start over in an --out that holds another run; resume with changed flags or over newer checkpoints. */
  force?: boolean;
  logEvery: number;
  /** 0: no evaluation during training. */
  evalEvery: number;
  /** 0: checkpoints only at the end (and when stopped). */
  checkpointEvery: number;
  /** Written to config.json and into every checkpoint's trainer.json. */
  config: unknown;
}

export interface StepEvent {
  /** Steps done (it + 1). */
  step: number;
  iters: number;
  report: StepReport;
  /** Steps per second since the last pause. */
  rate: number;
  /** Whether this step went to metrics.jsonl. */
  logged: boolean;
}

export interface TrainHooks {
  /** Lines for the person watching (default: stderr). */
  log?: (line: string) => void;
  /** The step the run starts at (after a resume) and its total. */
  onStart?: (start: number, iters: number) => void;
  onStep?: (e: StepEvent) => void;
  onEval?: (e: { step: number; selection: Selection; best: BestSelection }) => void;
  onCheckpoint?: (path: string, step: number) => void;
  /** Polled after every step: true saves a checkpoint and ends the run early. */
  shouldStop?: () => boolean;
}

export type TrainOutcome<Summary> =
  | { stopped: false; summary: Summary & { steps: number; wall_seconds: number; best_selection: BestSelection | null } }
  | { stopped: true; checkpoint: string; step: number };

/** The default log: a line to stderr. */
export const logToStderr = (line: string): void => void process.stderr.write(`${line}\n`);

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

/**
 * Throws NonFiniteLossError naming the first loss of step `it` that is NaN or infinite, counted as the
 * progress line counts: step it + 1 is the (it + 1)-th step done.
 */
export function assertFiniteLosses(it: number, losses: Record<string, number>): void {
  const bad = Object.entries(losses).find(([, v]) => !Number.isFinite(v));
  if (bad) throw new NonFiniteLossError(`step ${it + 1}: ${bad[0]} loss is ${bad[1]}`);
}

/** config.json (atomic) and metrics.jsonl (started afresh unless resuming) in the claimed run folder. */
function startRunFiles(o: CoreOptions): string {
  const metricsPath = join(o.out, 'metrics.jsonl');
  try {
    writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(o.config, null, 2));
    if (!o.resume) writeFileSync(metricsPath, '');
  } catch (e) {
    throw diskError(e, o.out, 0, 'config.json');
  }
  return metricsPath;
}

interface ResumePoint {
  dir: string;
  state: TrainerState;
}

/** The checkpoint to resume from and its trainer state; flags that change what is trained need --force. */
function resumePoint(o: CoreOptions, log: (line: string) => void): ResumePoint {
  const dir = resolveCheckpoint(o.resume!);
  const state = readTrainerState(dir);
  const { refused, noted } = resumeDifferences((state.options ?? {}) as Record<string, unknown>, (o.config ?? {}) as Record<string, unknown>);
  if (refused.length && !o.force) {
    throw new CheckpointError(`--resume ${o.resume}: flags differ from the saved run: ${refused.join(', ')}; give the saved values, or add --force to continue with the new ones`);
  }
  if (refused.length) log(`--force: resuming with flags that differ from the saved run: ${refused.join(', ')}`);
  if (noted.length) log(`note: ${noted.join(', ')}: the learning-rate schedule changes from step ${state.step} on`);
  return { dir, state };
}

/** The best selection logged in metrics.jsonl up to `step` (a resumed run keeps its earlier best). */
function bestLogged(metricsPath: string, step: number): BestSelection | null {
  if (!existsSync(metricsPath)) return null;
  let best: BestSelection | null = null;
  for (const line of readFileSync(metricsPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const l = JSON.parse(line) as { kind?: string; split?: string; step?: number; metric?: string; [k: string]: unknown };
    if (l.kind !== 'eval' || l.step === undefined || l.step > step || !l.metric) continue;
    const value = l[l.metric] as number;
    if (!best || value > best.value) best = { split: l.split!, metric: l.metric, value, step: l.step };
  }
  return best;
}

/** Loads a checkpoint into the task strictly (model, momentum, dropout stream); returns the steps it had done. */
async function restore(task: TrainTask<unknown>, resume: ResumePoint, log: (line: string) => void): Promise<number> {
  await loadModelState(resume.dir, task.model);
  loadOptimizerState(resume.dir, task.sgd, task.params);
  setDropoutSeedState(resume.state.dropout);
  log(`resumed from ${resume.dir} at step ${resume.state.step}`);
  return resume.state.step;
}

/** The run's checkpoints: at most one per step count, the newest (all are finite) remembered for error messages. */
class Checkpoints {
  constructor(
    private readonly o: CoreOptions,
    private readonly task: TrainTask<unknown>,
    private readonly onCheckpoint: TrainHooks['onCheckpoint'],
    public last: string | null,
    private lastStep: number,
  ) {}

  async save(steps: number): Promise<string> {
    if (steps !== this.lastStep) {
      this.last = await saveCheckpoint(this.o.out, this.task.model, this.task.sgd, this.task.params, { step: steps, dropout: dropoutSeedState(), options: this.o.config }, this.task.checkpointMetadata);
      this.lastStep = steps;
      this.onCheckpoint?.(this.last, steps);
    }
    return this.last!;
  }

  /** A failure during training, retold with what was kept. */
  stopped(e: unknown): unknown {
    const kept = this.last
      ? `The newest finite checkpoint is ${this.last} (step ${this.lastStep}; resume with --resume ${this.last}).`
      : 'No checkpoint was written before it.';
    if (e instanceof NonFiniteLossError) return new NonFiniteLossError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof NonFiniteStateError) return new NonFiniteStateError(e.step, e.bad, e.total, `training stopped. ${kept}`);
    if (e instanceof RunFolderError) return new RunFolderError(`${e.message}; training stopped. ${kept}`);
    if (e instanceof GpuError) return new GpuError(`${e.message}\ntraining stopped: the GPU failed${gpu().lost ? ' (device lost)' : ''}. ${kept}`);
    return e;
  }
}

/**
 * Trains the task `makeTask` builds for o.iters steps (from a checkpoint when o.resume), then summarises
 * it. The run folder is claimed first (run-folder.ts: another run's folder, a second process, flags
 * that differ from the resumed run's are refused before any work), and released at the end.
 */
export async function runTraining<Summary>(o: CoreOptions, makeTask: () => Promise<TrainTask<Summary>>, hooks: TrainHooks = {}): Promise<TrainOutcome<Summary>> {
  const log = hooks.log ?? logToStderr;
  const started = performance.now();
  const resume = o.resume ? resumePoint(o, log) : null;
  const folder = openRunFolder(o.out, { resume: Boolean(resume), force: o.force ?? false, log });
  try {
    if (resume) prepareResume(o.out, resume.dir, resume.state.step, o.force ?? false, log);
    const outcome = await train(o, await makeTask(), resume, hooks, log, started);
    folder.release();
    return outcome;
  } catch (e) {
    folder.release(true);
    throw e;
  }
}

async function train<Summary>(o: CoreOptions, task: TrainTask<Summary>, resume: ResumePoint | null, hooks: TrainHooks, log: (line: string) => void, started: number): Promise<TrainOutcome<Summary>> {
  const start = resume ? await restore(task, resume, log) : 0;
  const metricsPath = startRunFiles(o);
  const metrics = (line: object) => appendFileSync(metricsPath, JSON.stringify(line) + '\n');
  let best = resume ? bestLogged(metricsPath, start) : null;
  const checkpoints = new Checkpoints(o, task, hooks.onCheckpoint, resume?.dir ?? null, resume ? start : -1);
  hooks.onStart?.(start, o.iters);
  // it/s counts from the last pause (tuning), so the rate and ETA describe training alone.
  let rateFrom = { it: start, t: performance.now() };
  try {
    for (let it = start; it < o.iters; it++) {
      const report = await task.step(it);
      assertFiniteLosses(it, report.losses);
      if (it === start && pendingTuning().length) {
        // Kernel variants are chosen per adapter by timing each once; the choice is cached for later runs.
        log(`autotune: timing kernel variants for ${pendingTuning().length} new shapes on this adapter (once; cached in .cache/autotune)`);
        await tunePending();
        rateFrom = { it: it + 1, t: performance.now() };
      }
      const done = it + 1 - rateFrom.it;
      const rate = done > 0 ? done / ((performance.now() - rateFrom.t) / 1000) : 0;
      const logged = (it + 1) % o.logEvery === 0 || it + 1 === o.iters;
      if (logged) metrics({ kind: 'train', step: it + 1, ...report.metrics, it_per_s: rate });
      hooks.onStep?.({ step: it + 1, iters: o.iters, report, rate, logged });
      if (o.evalEvery > 0 && (it + 1) % o.evalEvery === 0 && task.select) {
        const selection = await task.select();
        metrics({ kind: 'eval', split: selection.split, step: it + 1, [selection.metric]: selection.value, metric: selection.metric });
        if (!best || selection.value > best.value) best = { ...selection, step: it + 1 };
        hooks.onEval?.({ step: it + 1, selection, best });
      }
      const stop = hooks.shouldStop?.() ?? false;
      if (stop || (o.checkpointEvery > 0 && (it + 1) % o.checkpointEvery === 0)) await checkpoints.save(it + 1);
      if (stop) {
        log(`saved ${checkpoints.last}; resume with --resume ${o.out}`);
        task.dispose();
        return { stopped: true, checkpoint: checkpoints.last!, step: it + 1 };
      }
    }
  } catch (e) {
    throw checkpoints.stopped(e);
  }
  log(`checkpoint: ${await checkpoints.save(o.iters)}`);
  const summary = await task.finish({ out: o.out, steps: o.iters, metricsPath, best });
  const full = { ...summary, steps: o.iters, wall_seconds: (performance.now() - started) / 1000, best_selection: best };
  writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(full, null, 2));
  task.dispose();
  return { stopped: false, summary: full };
}
