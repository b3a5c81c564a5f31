// The run folder (--out): who may write it and what survives in it.
//   - a new run refuses a folder that holds another run (--resume continues it, --force starts over);
//   - a lock file (run.lock: pid, host, start time) keeps a second process out; the lock of a dead
//     process on this host is taken over with a note (a kill -9 leaves it behind);
//   - latest.json names the live checkpoint; it is swapped before anything is deleted, and cleanup
//     orders checkpoints by step and never deletes the one latest.json names or the one just written;
//   - a resume drops metrics.jsonl lines after the resumed step, and checkpoints newer than it only
//     with --force; a run that fails before writing anything leaves no folder it created behind.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { faultPoint } from '../io/fault-point.js';

export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

export const LOCK_FILE = 'run.lock';
export const LATEST_FILE = 'latest.json';
export const METRICS_FILE = 'metrics.jsonl';
/** Files a run writes besides its checkpoints: their presence marks a folder as holding a run. */
const RUN_FILES = ['config.json', LATEST_FILE, METRICS_FILE, 'summary.json', 'predictions.png', 'curves.png'];
const CHECKPOINT = /^ckpt-(\d+)$/;
/** Half-written checkpoints and files (a kill during a save: io/atomic.ts's temporary names) and half-deleted checkpoints. */
const LEFTOVER = /^(ckpt-\d+\.(tmp|deleting)|\..+\.tmp-\d+-\d+)$/;

export interface CheckpointRef {
  name: string;
  step: number;
}

export const checkpointName = (step: number): string => `ckpt-${String(step).padStart(7, '0')}`;

/** The checkpoint folders of a run, oldest step first (names sort wrongly past 9,999,999 steps). */
export function listCheckpoints(dir: string): CheckpointRef[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, m: CHECKPOINT.exec(name) }))
    .filter((c) => c.m)
    .map((c) => ({ name: c.name, step: Number(c.m![1]) }))
    .sort((a, b) => a.step - b.step);
}

/** latest.json, or null when the folder has none; an unreadable one is an error naming the file. */
export function readLatest(dir: string): CheckpointRef | null {
  const path = join(dir, LATEST_FILE);
  if (!existsSync(path)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RunFolderError(`${path} is not valid JSON (${(e as Error).message}); point --resume or --ckpt at one of its ckpt-NNNNNNN folders instead`);
  }
  const { checkpoint, step } = (parsed ?? {}) as { checkpoint?: unknown; step?: unknown };
  if (typeof checkpoint !== 'string' || !CHECKPOINT.test(checkpoint) || !Number.isSafeInteger(step)) {
    throw new RunFolderError(`${path} does not name a checkpoint ({"checkpoint": "ckpt-NNNNNNN", "step": N} expected, got ${JSON.stringify(parsed).slice(0, 80)})`);
  }
  return { name: checkpoint, step: step as number };
}

/**
 * Makes `name` the live checkpoint (latest.json, atomically), then deletes older checkpoints beyond the
 * `keep` newest by step, and folders a killed save or cleanup left behind. The live one is never deleted.
 */
export function publishCheckpoint(dir: string, live: CheckpointRef, keep: number): void {
  writeFileAtomic(join(dir, LATEST_FILE), JSON.stringify({ checkpoint: live.name, step: live.step }));
  faultPoint('latest-swapped');
  const older = listCheckpoints(dir).filter((c) => c.step < live.step);
  for (const c of older.slice(0, Math.max(0, older.length - (keep - 1)))) {
    // Out of sight first, so a kill during the delete leaves no half checkpoint under a checkpoint's name.
    renameSync(join(dir, c.name), join(dir, `${c.name}.deleting`));
    faultPoint('checkpoint-deleting');
    rmSync(join(dir, `${c.name}.deleting`), { recursive: true, force: true });
  }
  for (const f of readdirSync(dir).filter((f) => LEFTOVER.test(f))) rmSync(join(dir, f), { recursive: true, force: true });
}

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) && typeof info.host === 'string' ? info : null;
  } catch {
    return null; // torn by a kill while it was being written: nobody holds it
  }
}

/** Takes the folder's lock or says who holds it; returns the release. */
function acquireLock(dir: string, log: (line: string) => void): () => void {
  const path = join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(mine), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
    }
    const other = readLock(path);
    if (other && (other.host !== mine.host || isAlive(other.pid))) {
      throw new RunFolderError(
        `${dir} is in use by process ${other.pid} on ${other.host} (started ${other.started}, ${path}); wait for it to end, or delete ${path} if that process is gone`,
      );
    }
    log(other ? `note: took over ${path} from process ${other.pid} (started ${other.started}), which is no longer running` : `note: replaced the unreadable ${path}`);
    rmSync(path, { force: true });
  }
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    if (readLock(path)?.pid === process.pid) rmSync(path, { force: true });
  };
  process.on('exit', release); // process.exit (Ctrl-C, SIGTERM) skips finally blocks
  return release;
}

function isDiskError(e: unknown): e is NodeJS.ErrnoException {
  return ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS'].includes((e as NodeJS.ErrnoException)?.code ?? '');
}

const megabytes = (bytes: number): string => (bytes < 1e6 ? `${Math.ceil(bytes / 1e3)} kB` : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`);

/** A write error of the disk (full, read-only, no permission) as one line naming the folder and the bytes needed (when known). */
export function diskError(e: unknown, dir: string, bytes: number, what: string): unknown {
  if (!isDiskError(e)) return e;
  const why = { ENOSPC: 'the disk is full', EDQUOT: 'the disk quota is exhausted', EROFS: 'the file system is read-only' }[e.code!] ?? 'permission denied';
  const needs = bytes > 0 ? `; it needs ${megabytes(bytes)} (${bytes} bytes) free there` : '';
  return new RunFolderError(`cannot write ${what} in ${dir}: ${why} (${e.code})${needs}`);
}

/** Refuses to start a write of `bytes` that the disk cannot hold (the old checkpoint stays until the new one is in). */
export function ensureSpace(dir: string, bytes: number, what: string, free = freeBytes(dir)): void {
  if (free < bytes) throw new RunFolderError(`cannot write ${what} in ${dir}: it needs ${megabytes(bytes)} (${bytes} bytes) and ${megabytes(free)} are free there`);
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export interface RunFolderOptions {
  /** Continue the run in the folder (it may hold one). */
  resume: boolean;
  /** Start over in a folder that holds another run, deleting that run's files. */
  force: boolean;
  log?: (line: string) => void;
}

export interface RunFolder {
  dir: string;
  /** Drops the lock; after a failure, also removes the folder if this run created it and wrote nothing. */
  release(failed?: boolean): void;
}

/** What the folder holds of a run, for messages; null when it holds none. */
function describeRun(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const checkpoints = listCheckpoints(dir);
  const files = RUN_FILES.filter((f) => existsSync(join(dir, f)));
  if (!checkpoints.length && !files.length) return null;
  const newest = checkpoints[checkpoints.length - 1];
  return newest ? `checkpoints up to step ${newest.step}` : files.join(', ');
}

/** Opens --out for a run: refuses another run's folder unless resuming or forced, and takes the lock. */
export function openRunFolder(dir: string, o: RunFolderOptions): RunFolder {
  const log = o.log ?? (() => undefined);
  const existing = describeRun(dir);
  if (existing && !o.resume && !o.force) {
    throw new RunFolderError(`--out ${dir} already holds a run (${existing}): use --resume ${dir} to continue it, or --force or another --out to start over`);
  }
  const created = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    let cause = e;
    try {
      mkdirSync(dir); // node's recursive mkdir says ENOENT where the disk is read-only; this one says why
    } catch (plain) {
      cause = plain;
    }
    throw diskError(cause, dir, 0, 'the run folder');
  }
  let releaseLock: () => void;
  try {
    releaseLock = acquireLock(dir, log);
  } catch (e) {
    if (created) rmSync(dir, { recursive: true, force: true });
    throw diskError(e, dir, 0, 'the lock file');
  }
  if (existing && !o.resume) {
    log(`--force: deleting the run in ${dir} (${existing})`);
    for (const c of listCheckpoints(dir)) rmSync(join(dir, c.name), { recursive: true, force: true });
    for (const f of [...RUN_FILES, ...readdirSync(dir).filter((f) => LEFTOVER.test(f))]) rmSync(join(dir, f), { recursive: true, force: true });
  }
  return {
    dir,
    release(failed = false) {
      releaseLock();
      if (failed && created && existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
    },
  };
}

/**
 * Before a resume at `step` into `dir`: checkpoints of later steps there belong to a run this one would
 * overwrite, so they need --force (then they go); metrics lines after `step` are dropped, so the
 * continued run does not log a step twice.
 */
export function prepareResume(dir: string, from: string, step: number, force: boolean, log: (line: string) => void = () => undefined): void {
  const newer = listCheckpoints(dir).filter((c) => c.step > step);
  if (newer.length && !force) {
    throw new RunFolderError(
      `${dir} holds checkpoints newer than the resumed step ${step} (${newer.map((c) => c.name).join(', ')}): resume into another --out, or add --force to delete them`,
    );
  }
  // latest.json first: it must never name a deleted checkpoint. It names the resumed one when that is
  // in this folder; otherwise the run has no live checkpoint until its first save.
  if (newer.some((c) => c.name === readLatest(dir)?.name)) {
    const own = listCheckpoints(dir).find((c) => c.step === step && resolve(dir, c.name) === resolve(from));
    if (own) writeFileAtomic(join(dir, LATEST_FILE), JSON.stringify({ checkpoint: own.name, step }));
    else rmSync(join(dir, LATEST_FILE));
  }
  for (const c of newer) {
    log(`--force: deleting ${join(dir, c.name)}, newer than the resumed step ${step}`);
    rmSync(join(dir, c.name), { recursive: true, force: true });
  }
  const metrics = join(dir, METRICS_FILE);
  if (!existsSync(metrics)) return;
  const lines = readFileSync(metrics, 'utf8').split('\n');
  const kept = lines.filter((line) => {
    if (!line.trim()) return false;
    try {
      const s = (JSON.parse(line) as { step?: unknown }).step;
      return typeof s !== 'number' || s <= step;
    } catch {
      return false; // torn by a kill during the append
    }
  });
  if (kept.length !== lines.filter((l) => l.trim()).length) writeFileAtomic(metrics, kept.map((l) => `${l}\n`).join(''));
}

/** Options that a resume may change: how long and how often, not what is trained. */
const RESUME_MAY_CHANGE = new Set(['iters', 'out', 'resume', 'force', 'help', 'logEvery', 'evalEvery', 'checkpointEvery']);
/** Options that a resume may change with a note: training longer stretches the poly schedule from here on. */
const RESUME_CHANGES_NOTED = new Set(['itersMax']);
const FLAG_NAMES: Record<string, string> = { momentumEma: 'm', apool: 'no-apool', mlp: 'no-mlp' };

const flagOf = (key: string): string => `--${FLAG_NAMES[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const show = (v: unknown): string => (Array.isArray(v) ? v.join(v.length === 4 ? '.' : ',') : String(v));

/**
 * The flags of `now` that differ from the saved options of the run being resumed, as "--batch 3
 * (saved 2)": `refused` change what is trained (a resume needs --force), `noted` only its schedule.
 */
export function resumeDifferences(saved: Record<string, unknown>, now: Record<string, unknown>): { refused: string[]; noted: string[] } {
  const differing = Object.keys(now).filter((k) => !RESUME_MAY_CHANGE.has(k) && k in saved && JSON.stringify(saved[k]) !== JSON.stringify(now[k]));
  const describe = (k: string) => `${flagOf(k)} ${show(now[k])} (saved ${show(saved[k])})`;
  return { refused: differing.filter((k) => !RESUME_CHANGES_NOTED.has(k)).map(describe), noted: differing.filter((k) => RESUME_CHANGES_NOTED.has(k)).map(describe) };
}
