// Kernel microbenchmarks: each case encodes its work once per iteration; the harness times
// whole submissions (encode + submit + wait) after a warm-up and reports the median. It runs in Node and,
// bundled into bench.html (bench/browser/page.ts), in a browser, where it reports wall time only.
import { gpu } from '../src/gpu/index.js';

export interface Peer {
  name: string;
  /** Prepares the peer and returns one timed iteration (it must wait for its own completion). */
  setup(): Promise<() => Promise<void>>;
  /** The peer's peak memory over its iterations, if it reports one. */
  peakMiB?(): number | undefined;
  dispose?(): void;
}

export interface BenchCase {
  name: string;
  shape: string;
  /** Floating-point operations of one iteration (for GFLOP/s). */
  flops?: number;
  /** Bytes moved by one iteration (for GB/s). */
  bytes?: number;
  /** Allocates inputs (and may tune kernels) and returns the function that records one iteration's dispatches. */
  setup(): Iteration | Promise<Iteration>;
  dispose?(): void;
  peer?: Peer;
  /** Iterations to time (default: enough for ~1 s, 3 to 50). */
  iterations?: number;
  /** Report the peak GPU memory (pool bytes in use) from setup to the last iteration. */
  memory?: boolean;
}

/** One iteration's work: dispatches recorded (the harness submits and waits), or an async step that awaits its own reads. */
export type Iteration = () => void | Promise<void>;

export interface BenchResult {
  name: string;
  shape: string;
  ms: number;
  /** CPU time of this process per iteration (median): on a shared machine it moves less than wall time. Node only. */
  cpuMs?: number;
  gflops?: number;
  gbps?: number;
  peakMiB?: number;
  peer?: { name: string; ms: number; peakMiB?: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** This process's CPU time in ms, where the host tells it (Node's process.cpuUsage; a browser page has none). */
const cpuClock: (() => number) | null =
  typeof globalThis.process?.cpuUsage === 'function'
    ? () => {
        const c = process.cpuUsage();
        return (c.user + c.system) / 1000;
      }
    : null;

async function timeIterations(iterate: () => Promise<void>, fixed?: number): Promise<{ ms: number; cpuMs?: number }> {
  await iterate(); // warm-up: compiles pipelines, fills the pool
  const first = performance.now();
  await iterate();
  const once = performance.now() - first;
  const n = fixed ?? Math.min(50, Math.max(3, Math.round(1000 / Math.max(once, 1e-3))));
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c0 = cpuClock?.() ?? 0;
    await iterate();
    times.push(performance.now() - t0);
    if (cpuClock) cpuTimes.push(cpuClock() - c0);
  }
  return { ms: median(times), cpuMs: cpuClock ? median(cpuTimes) : undefined };
}

export async function runCase(c: BenchCase): Promise<BenchResult> {
  const g = gpu();
  if (c.memory) g.pool.resetPeak();
  const record = await c.setup();
  const { ms, cpuMs } = await timeIterations(async () => {
    await record();
    await g.encoder.sync();
  }, c.iterations);
  const peakMiB = c.memory ? g.pool.stats.peakBytesInUse / 2 ** 20 : undefined;
  c.dispose?.();
  const result: BenchResult = { name: c.name, shape: c.shape, ms };
  if (cpuMs !== undefined) result.cpuMs = cpuMs;
  if (peakMiB !== undefined) result.peakMiB = peakMiB;
  if (c.flops) result.gflops = c.flops / (ms * 1e6);
  if (c.bytes) result.gbps = c.bytes / (ms * 1e6);
  if (c.peer) {
    const iterate = await c.peer.setup();
    result.peer = { name: c.peer.name, ms: (await timeIterations(iterate, c.iterations)).ms };
    const peerPeak = c.peer.peakMiB?.();
    if (peerPeak !== undefined) result.peer.peakMiB = peerPeak;
    c.peer.dispose?.();
  }
  return result;
}

export function formatRow(r: BenchResult): string {
  const rate = r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '';
  const peerPeak = r.peer?.peakMiB !== undefined ? `, peak ${r.peer.peakMiB.toFixed(0)} MiB` : '';
  const peer = r.peer ? `  ${r.peer.name}: ${r.peer.ms.toFixed(2)} ms (ours ${(r.peer.ms / r.ms).toFixed(2)}× faster)${peerPeak}` : '';
  const cpu = r.cpuMs !== undefined ? `cpu ${r.cpuMs.toFixed(1)} ms` : '';
  const memory = r.peakMiB !== undefined ? `  peak ${r.peakMiB.toFixed(0)} MiB` : '';
  return `${r.name.padEnd(44)} ${r.shape.padEnd(30)} ${r.ms.toFixed(3).padStart(10)} ms  ${rate.padStart(16)}  ${cpu.padStart(16)}${memory}${peer}`.trimEnd();
}
