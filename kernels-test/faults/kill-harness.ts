// npm run test:faults [-- --random N --seed S]: kill -9 a tiny training run at the moments where a
// crash could lose a checkpoint, then check that the run folder still resumes and evaluates.
//
// Each trial copies a finished 2-step run, resumes it for two more steps saving every step, and kills
// it: either at a fault point (CSG_FAULT_POINT, src/io/fault-point.ts: inside the checkpoint's temporary
// folder, half-way through a file's write, before and after the rename, right after latest.json is
// swapped, during the cleanup of an old checkpoint) at a random one of its two saves, or with
// SIGKILL from outside at a random moment of the run. Afterwards latest.json must name a complete
// checkpoint, `--resume` must finish with one metrics line per step, and eval:seg must score the folder.
import { spawnSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
const TINY = ['--weights', 'none', '--layers', '1.1.1.1', '--width', '8', '--head-width', '16', '--size', '32', '--counts', '16,8,8,8', '--batch', '2', '--K', '64', '--chunks', '2', '--log-every', '1', '--eval-every', '0'];
const ENV = { ...process.env, CSG_WEBGPU_QUIET: '1', CSG_CONV_VARIANT: 'regblock', CSG_FAULT_POINT: '' };
const POINTS = ['checkpoint-tmp', 'atomic-write', 'checkpoint-rename', 'checkpoint-renamed', 'latest-swapped', 'checkpoint-deleting'];

const { values } = parseArgs({ args: process.argv.slice(2), options: { random: { type: 'string' }, seed: { type: 'string' } } });
const randomKills = Number(values.random ?? 4);
let seed = Number(values.seed ?? Date.now() % 100000);
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};

function command(script: string, args: string[], env: NodeJS.ProcessEnv = ENV) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a run and kills it with SIGKILL `delay` ms after its first logged step (or lets it end). */
async function killAfter(args: string[], delay: number): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train-seg.ts', ...args], { cwd: ROOT, env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      const first = !/step \d+\//.test(stderr);
      stderr += d.toString();
      if (first && /step \d+\//.test(stderr)) setTimeout(() => child.kill('SIGKILL'), delay);
    });
    child.on('exit', (code, signal) => resolve(signal === 'SIGKILL' ? `killed ${delay} ms after the first step` : `ended by itself (exit ${code})`));
  });
}

interface Trial {
  what: string;
  how: string;
  problem: string | null;
}

function check(dir: string): string | null {
  const latestPath = join(dir, 'latest.json');
  if (!existsSync(latestPath)) return 'no latest.json';
  const latest = JSON.parse(readFileSync(latestPath, 'utf8')) as { checkpoint: string; step: number };
  for (const f of ['checkpoint.safetensors', 'optimizer.safetensors', 'trainer.json']) {
    if (!existsSync(join(dir, latest.checkpoint, f))) return `latest.json names ${latest.checkpoint}, which lacks ${f}`;
  }
  const until = String(latest.step + 1);
  const resumed = command('train-seg', [...TINY, '--iters', until, '--checkpoint-every', '1', '--resume', dir, '--out', dir]);
  if (resumed.code !== 0) return `resume from step ${latest.step} failed:\n${resumed.stderr}`;
  const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; step: number })
    .filter((l) => l.kind === 'train')
    .map((l) => l.step);
  if (steps.join() !== Array.from({ length: latest.step + 1 }, (_, i) => i + 1).join()) return `metrics.jsonl steps are ${steps.join(',')}`;
  const evaluated = command('eval-seg', [...TINY, '--ckpt', dir]);
  if (evaluated.code !== 0 || !/mIoU/.test(evaluated.stdout)) return `eval:seg failed:\n${evaluated.stderr}`;
  return null;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'csg-faults-'));
  const base = join(work, 'base');
  process.stderr.write(`[faults] seed ${seed}; a 2-step base run in ${base}\n`);
  const made = command('train-seg', [...TINY, '--iters', '2', '--checkpoint-every', '1', '--out', base]);
  if (made.code !== 0) throw new Error(`the base run failed:\n${made.stderr}`);
  const resumeArgs = (dir: string) => [...TINY, '--iters', '4', '--checkpoint-every', '1', '--resume', dir, '--out', dir];
  const trials: Trial[] = [];
  const plans: { what: string; run: (dir: string) => Promise<string> }[] = [
    ...POINTS.map((point) => {
      const nth = 1 + Math.floor(random() * 2); // the resumed run saves twice (steps 3 and 4)
      return {
        what: `${point} (the ${nth}. time)`,
        run: async (dir: string) => {
          const r = command('train-seg', resumeArgs(dir), { ...ENV, CSG_FAULT_POINT: `${point}:${nth}` });
          return r.signal === 'SIGKILL' ? 'killed there' : `not reached (exit ${r.code})`;
        },
      };
    }),
    ...Array.from({ length: randomKills }, () => {
      const delay = Math.floor(random() * 8000);
      return { what: `SIGKILL at a random moment`, run: (dir: string) => killAfter(resumeArgs(dir), delay) };
    }),
  ];
  for (const [i, plan] of plans.entries()) {
    const dir = join(work, `trial${i}`);
    cpSync(base, dir, { recursive: true });
    const how = await plan.run(dir);
    const problem = check(dir);
    trials.push({ what: plan.what, how, problem });
    process.stderr.write(`[faults] ${i + 1}/${plans.length} ${plan.what}: ${how} → ${problem === null ? 'resumed and evaluated' : `FAILED: ${problem}`}\n`);
    if (problem === null) rmSync(dir, { recursive: true, force: true });
  }
  const killed = trials.filter((t) => t.how.startsWith('killed')).length;
  const failed = trials.filter((t) => t.problem !== null);
  process.stderr.write(`[faults] ${trials.length} trials, ${killed} runs killed with SIGKILL; ${trials.length - failed.length} left a run folder that resumed and evaluated, ${failed.length} did not${failed.length ? ` (kept in ${work})` : ''}\n`);
  if (failed.length) process.exit(1);
  rmSync(work, { recursive: true, force: true });
}

await main();
