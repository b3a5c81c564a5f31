// The run folder's rules, on plain files (no GPU): a new run refuses another run's folder, the lock
// names the process that holds it and a dead one's lock is taken over, cleanup orders checkpoints by
// step and keeps the live one, a resume drops later metrics lines and refuses newer checkpoints without
// --force, disk errors name the folder and the bytes, an unreadable latest.json names the file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openRunFolder,
  publishCheckpoint,
  listCheckpoints,
  readLatest,
  prepareResume,
  resumeDifferences,
  diskError,
  ensureSpace,
  checkpointName,
  LOCK_FILE,
} from '../src/train/run-folder.js';

const fresh = (): string => mkdtempSync(join(tmpdir(), 'csg-runfolder-'));

function fakeCheckpoint(dir: string, step: number): string {
  const name = checkpointName(step);
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'trainer.json'), JSON.stringify({ step }));
  return name;
}

describe('a new run in a folder that holds another run', () => {
  test('is refused with --resume and --force named, and loses nothing', () => {
    const dir = fresh();
    fakeCheckpoint(dir, 200);
    writeFileSync(join(dir, 'metrics.jsonl'), '{"kind":"train","step":1}\n');
    expect(() => openRunFolder(dir, { resume: false, force: false })).toThrow(
      new RegExp(`--out ${dir} already holds a run \\(checkpoints up to step 200\\): use --resume ${dir} to continue it, or --force or another --out to start over`),
    );
    expect(readdirSync(dir).sort()).toEqual(['ckpt-0000200', 'metrics.jsonl']);
  });

  test('--force deletes that run (not other files) and starts over', () => {
    const dir = fresh();
    fakeCheckpoint(dir, 200);
    writeFileSync(join(dir, 'summary.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const lines: string[] = [];
    const folder = openRunFolder(dir, { resume: false, force: true, log: (l) => lines.push(l) });
    expect(readdirSync(dir).sort()).toEqual(['notes.txt', LOCK_FILE]);
    expect(lines.join('\n')).toMatch(/--force: deleting the run/);
    folder.release();
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  test('an empty or missing folder is fine; a failed run leaves no folder it created', () => {
    const parent = fresh();
    const dir = join(parent, 'new');
    const folder = openRunFolder(dir, { resume: false, force: false });
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    folder.release(true);
    expect(existsSync(dir)).toBe(false);
    const kept = fresh(); // made by the user: stays, even empty
    openRunFolder(kept, { resume: false, force: false }).release(true);
    expect(existsSync(kept)).toBe(true);
  });
});

describe('the lock', () => {
  test('a second process is refused with the pid, host and start time of the first', () => {
    const dir = fresh();
    const folder = openRunFolder(dir, { resume: false, force: false });
    const lock = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string; started: string };
    expect(lock).toEqual({ pid: process.pid, host: hostname(), started: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(() => openRunFolder(dir, { resume: true, force: true })).toThrow(
      new RegExp(`${dir} is in use by process ${process.pid} on ${hostname()} \\(started ${lock.started}`),
    );
    folder.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  test("a dead process's lock is taken over with a note; another host's is not", () => {
    const dir = fresh();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const pid = Number(dead.stdout.toString());
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
    const lines: string[] = [];
    const folder = openRunFolder(dir, { resume: true, force: false, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(new RegExp(`took over .*${LOCK_FILE} from process ${pid} \\(started 2026-01-01T00:00:00.000Z\\), which is no longer running`));
    folder.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: 'elsewhere', started: '2026-01-01T00:00:00.000Z' }));
    expect(() => openRunFolder(dir, { resume: true, force: false })).toThrow(/in use by process \d+ on elsewhere/);
  });
});

describe('checkpoint cleanup', () => {
  test('orders by step, not by name, and never deletes the live checkpoint', () => {
    const dir = fresh();
    for (const step of [9_999_999, 10_000_000, 10_000_001]) fakeCheckpoint(dir, step);
    // By name 'ckpt-9999999' sorts after 'ckpt-10000001'; by step it is the oldest.
    publishCheckpoint(dir, { name: checkpointName(10_000_001), step: 10_000_001 }, 2);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([10_000_000, 10_000_001]);
    expect(readLatest(dir)).toEqual({ name: 'ckpt-10000001', step: 10_000_001 });
  });

  test('a checkpoint older than others is kept when it is the one just written (latest.json first)', () => {
    const dir = fresh();
    for (const step of [4, 5, 6]) fakeCheckpoint(dir, step);
    fakeCheckpoint(dir, 2);
    writeFileSync(join(dir, 'ckpt-0000007.tmp'), 'half-written by a killed save');
    mkdirSync(join(dir, 'ckpt-0000001.deleting'));
    writeFileSync(join(dir, '.latest.json.tmp-123-456'), '{"check');
    publishCheckpoint(dir, { name: checkpointName(2), step: 2 }, 2);
    expect(readLatest(dir)?.name).toBe('ckpt-0000002');
    expect(existsSync(join(dir, 'ckpt-0000002', 'trainer.json'))).toBe(true);
    // Newer ones are another run's future: only prepareResume --force deletes those.
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2, 4, 5, 6]);
    for (const leftover of ['ckpt-0000007.tmp', 'ckpt-0000001.deleting', '.latest.json.tmp-123-456']) expect(existsSync(join(dir, leftover))).toBe(false);
  });
});

describe('latest.json', () => {
  test('invalid JSON or a wrong shape names the file', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'latest.json'), '{oops');
    expect(() => readLatest(dir)).toThrow(new RegExp(`${join(dir, 'latest.json')} is not valid JSON`));
    writeFileSync(join(dir, 'latest.json'), '{"checkpoint": "../etc", "step": 1}');
    expect(() => readLatest(dir)).toThrow(/latest\.json does not name a checkpoint/);
    expect(readLatest(fresh())).toBeNull();
  });
});

describe('resume', () => {
  test('drops metrics lines after the resumed step (and a torn last line)', () => {
    const dir = fresh();
    const lines = [1, 2, 3, 4].map((step) => JSON.stringify({ kind: 'train', step }));
    lines.splice(2, 0, JSON.stringify({ kind: 'eval', step: 2, miou: 0.5 }));
    writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n{"kind":"tra`);
    prepareResume(dir, join(dir, 'ckpt-0000002'), 2, false);
    const kept = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string });
    expect(kept.map((l) => `${l.kind}${l.step}`)).toEqual(['train1', 'train2', 'eval2']);
  });

  test('checkpoints newer than the resumed step need --force', () => {
    const dir = fresh();
    for (const step of [100, 200]) fakeCheckpoint(dir, step);
    publishCheckpoint(dir, { name: 'ckpt-0000200', step: 200 }, 2);
    expect(() => prepareResume(dir, join(dir, 'ckpt-0000100'), 100, false)).toThrow(
      /holds checkpoints newer than the resumed step 100 \(ckpt-0000200\): resume into another --out, or add --force/,
    );
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([100, 200]);
    prepareResume(dir, join(dir, 'ckpt-0000100'), 100, true);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([100]);
    expect(readLatest(dir)).toEqual({ name: 'ckpt-0000100', step: 100 }); // never names a deleted one
    // Resumed from elsewhere: no live checkpoint here until the first save.
    fakeCheckpoint(dir, 300);
    publishCheckpoint(dir, { name: 'ckpt-0000300', step: 300 }, 2);
    prepareResume(dir, '/elsewhere/ckpt-0000100', 100, true);
    expect(readLatest(dir)).toBeNull();
  });

  test('lists the flags that change what is trained; length and cadence may change, the schedule with a note', () => {
    const saved = { batch: 2, lr: 0.05, layers: [1, 1, 1, 1], momentumEma: 0.999, apool: true, iters: 100, out: 'a', checkpointEvery: 10 };
    const now = { ...saved, batch: 3, lr: 0.1, layers: [1, 1, 2, 1], momentumEma: 0.99, apool: false, iters: 200, out: 'b', checkpointEvery: 5 };
    expect(resumeDifferences(saved, now)).toEqual({
      refused: ['--batch 3 (saved 2)', '--lr 0.1 (saved 0.05)', '--layers 1.1.2.1 (saved 1.1.1.1)', '--m 0.99 (saved 0.999)', '--no-apool false (saved true)'],
      noted: [],
    });
    expect(resumeDifferences({ ...saved, itersMax: 100 }, { ...saved, iters: 300, itersMax: 300 })).toEqual({ refused: [], noted: ['--iters-max 300 (saved 100)'] });
  });
});

describe('disk errors', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: failed, write`), { code });

  test('a full, read-only or forbidden disk names the folder and the bytes needed', () => {
    expect((diskError(errno('ENOSPC'), '/runs/x', 330_123_456, 'checkpoint ckpt-0000200') as Error).message).toBe(
      'cannot write checkpoint ckpt-0000200 in /runs/x: the disk is full (ENOSPC); it needs 330 MB (330123456 bytes) free there',
    );
    expect((diskError(errno('EROFS'), '/runs/x', 1000, 'checkpoint c') as Error).message).toMatch(/the file system is read-only \(EROFS\); it needs 1 kB \(1000 bytes\)/);
    expect((diskError(errno('EACCES'), '/runs/x', 1000, 'checkpoint c') as Error).message).toMatch(/in \/runs\/x: permission denied \(EACCES\)/);
    expect((diskError(errno('EROFS'), '/runs/x', 0, 'the run folder') as Error).message).toBe('cannot write the run folder in /runs/x: the file system is read-only (EROFS)');
    const other = errno('EIO');
    expect(diskError(other, '/runs/x', 1, 'c')).toBe(other);
  });

  test('a checkpoint that does not fit is refused before anything is written', () => {
    expect(() => ensureSpace('/runs/x', 330_000_000, 'checkpoint c', 100_000_000)).toThrow(/cannot write checkpoint c in \/runs\/x: it needs 330 MB \(330000000 bytes\) and 100 MB are free there/);
    expect(() => ensureSpace(tmpdir(), 1, 'checkpoint c')).not.toThrow();
  });
});
