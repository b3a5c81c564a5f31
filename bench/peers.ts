// Peers timed next to our kernels: tfjs-webgpu on the same Dawn instance, and PyTorch on the CPU in a
// child process (Debian's /usr/bin/python3 with python3-torch; skipped when torch is not importable).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dawnGpu } from '../src/gpu/platform-node.js';
import type { Peer } from './harness.js';

type Tf = typeof import('@tensorflow/tfjs-core');
let tfReady: Promise<Tf> | null = null;

/** tfjs-core with the webgpu backend, on our Dawn instance (its own device). */
export function loadTfjsWebgpu(): Promise<Tf> {
  tfReady ??= (async () => {
    // The backend looks for navigator.gpu when it loads; the WebGPU globals are already installed.
    (globalThis as { navigator?: unknown }).navigator = { gpu: dawnGpu() };
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
    await tf.ready();
    return tf;
  })();
  return tfReady;
}

/** tf.matMul on [m,k]·[k,n]; each iteration waits by reading back one element. */
export function tfjsMatmulPeer(m: number, k: number, n: number): Peer {
  let free = (): void => undefined;
  return {
    name: 'tfjs-webgpu 4.22',
    async setup() {
      const tf = await loadTfjsWebgpu();
      const a = tf.randomNormal([m, k]);
      const b = tf.randomNormal([k, n]);
      free = () => tf.dispose([a, b]);
      return async () => {
        const c = tf.matMul(a, b);
        const corner = tf.slice(c, [0, 0], [1, 1]);
        await corner.data();
        tf.dispose([c, corner]);
      };
    },
    dispose: () => free(),
  };
}

const PYTHON = '/usr/bin/python3';
let torchAvailable: boolean | null = null;

function hasTorch(): boolean {
  torchAvailable ??= spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  return torchAvailable;
}

/**
 * PyTorch CPU (2 threads) running `statement` once per line it reads; `prelude` makes the inputs.
 * One iteration = one round trip over stdin/stdout (~0.1 ms of overhead).
 */
export function torchPeer(prelude: string, statement: string): Peer | undefined {
  if (!hasTorch()) {
    console.log(`(PyTorch peer skipped: torch is not importable by ${PYTHON})`);
    return undefined;
  }
  let child: ChildProcessWithoutNullStreams | null = null;
  let peakKiB: number | undefined;
  return {
    name: 'PyTorch 1.13 CPU',
    async setup() {
      // Each iteration answers with the process's peak RSS (KiB) above its peak before the prelude.
      const script = [
        'import sys, resource, torch',
        'torch.set_num_threads(2)',
        'torch.manual_seed(0)',
        'base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss',
        prelude,
        'print("ready", flush=True)',
        'for _ in sys.stdin:',
        `    ${statement}`,
        '    print("done", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, flush=True)',
      ].join('\n');
      const proc = spawn(PYTHON, ['-c', script]);
      child = proc;
      const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
      const next = async (): Promise<void> => {
        const r = await lines.next();
        if (r.done) throw new Error('PyTorch peer exited');
        const reported = /^done (\d+)$/.exec(r.value as string);
        if (reported) peakKiB = Number(reported[1]);
      };
      await next();
      return async () => {
        proc.stdin.write('go\n');
        await next();
      };
    },
    peakMiB: () => (peakKiB === undefined ? undefined : peakKiB / 1024),
    dispose: () => {
      child?.stdin.end();
      child?.kill();
      child = null;
    },
  };
}

/**
 * PyTorch's peak of live tensor bytes (MiB) over `prelude` and `repeats` runs of `statement`, from its
 * profiler's allocation events (every CPU allocation and free, in order): the counterpart of our pool's
 * high-water mark. Peak RSS is not: the C allocator keeps freed blocks and RSS counts library code, so
 * it moved by hundreds of MiB between runs and even fell as the images grew. Undefined without torch.
 */
export async function torchTensorPeakMiB(prelude: string, statement: string, repeats: number): Promise<number | undefined> {
  if (!hasTorch()) {
    console.log(`(PyTorch peer skipped: torch is not importable by ${PYTHON})`);
    return undefined;
  }
  const indent = (code: string) => code.replace(/^/gm, '    ');
  const script = [
    'import sys, torch',
    'from torch.profiler import profile, ProfilerActivity',
    'torch.set_num_threads(2)',
    'torch.manual_seed(0)',
    'with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:',
    indent(prelude),
    `    for _ in range(${repeats}):`,
    `    ${indent(statement)}`,
    // Allocations carry +bytes, frees -bytes; a stable sort by start time keeps each tick's order.
    "events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'), key=lambda e: e.start_us())",
    'live = peak = 0',
    'for e in events:',
    '    live += e.nbytes()',
    '    peak = max(peak, live)',
    'print(peak)',
  ].join('\n');
  const child = spawn(PYTHON, ['-c', script]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const bytes = Number(out.trim().split('\n').pop());
  if (code !== 0 || !Number.isFinite(bytes)) throw new Error(`PyTorch peak measurement failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
  return bytes / 2 ** 20;
}
