// Driver probes (shaders/probe.wgsl): per-lane loads — four f32 or one vec4 per iteration (storage, or a
// uniform binding), each lane from its own offset in a cached 256 KiB window — against FMAs in registers.
// The rows' ratio is how many FMAs a kernel must do per float it loads to stay compute-bound on this
// adapter; on lavapipe it explains where the conv kernels' GFLOP/s stop (bench/RESULTS.md, "Why the conv
// kernels stop"). Compare the `cpu` column there: lavapipe keeps one or both of its threads busy on these
// short dispatches from one run to the next, so their wall times are bimodal.
import { gpu, grid } from '../../src/gpu/index.js';
import { Tensor } from '../../src/tensor/index.js';
import type { BenchCase } from '../harness.js';

export type ProbeKind = 'load_f32' | 'load_vec4' | 'load_uniform_vec4' | 'fma_chains';

const WINDOW_WORDS = 1 << 16;
/** A uniform binding holds at most 64 KiB: the uniform probe walks the window's first 16384 words. */
const UNIFORM_WORDS = 1 << 14;
export const probeMask = (kind: ProbeKind): number => (kind === 'load_uniform_vec4' ? UNIFORM_WORDS : WINDOW_WORDS) - 1;
export const PROBE_FMA = { scale: 0.999, shift: 0.001 };

/** Records one probe dispatch over `lanes` (a multiple of 64) invocations; `src` must hold the window. */
export function runProbe(kind: ProbeKind, lanes: number, iters: number, src: Tensor, out: Tensor): void {
  const params = { iters, mask: probeMask(kind), ...PROBE_FMA };
  const uniform = kind === 'load_uniform_vec4';
  const input: Record<string, GPUBufferBinding> = {
    load_f32: { src: src.binding },
    load_vec4: { src4: src.binding },
    load_uniform_vec4: { uniform4: { ...src.binding, size: UNIFORM_WORDS * 4 } },
    fma_chains: {},
  }[kind];
  const entry = uniform ? 'load_vec4' : kind;
  gpu().run({ family: 'probe', entry, defines: { VEC4: uniform ? 'uniform4' : 'src4' } }, { ...input, out: out.binding }, params, grid(lanes / 64));
}

export function probeWindow(): Float32Array {
  return Float32Array.from({ length: WINDOW_WORDS }, (_, i) => ((i * 7919) % 1000) / 1000);
}

export function probeCases(): BenchCase[] {
  const lanes = 1 << 14;
  let src: Tensor, out: Tensor;
  const probe = (name: string, kind: ProbeKind, iters: number, size: { bytes?: number; flops?: number }): BenchCase => ({
    name,
    shape: `${lanes} lanes × ${iters}`,
    ...size,
    setup: () => {
      src = Tensor.from(probeWindow(), [WINDOW_WORDS]);
      out = Tensor.empty([lanes * 4]);
      return () => runProbe(kind, lanes, iters, src, out);
    },
    dispose: () => {
      src.dispose();
      out.dispose();
    },
  });
  const loadIters = 256;
  const fmaIters = 4096;
  return [
    // bytes: the floats the lanes receive (4 per iteration), each lane its own.
    probe('probe load f32 per lane', 'load_f32', loadIters, { bytes: 16 * lanes * loadIters }),
    probe('probe load vec4 per lane', 'load_vec4', loadIters, { bytes: 16 * lanes * loadIters }),
    probe('probe load uniform vec4 per lane', 'load_uniform_vec4', loadIters, { bytes: 16 * lanes * loadIters }),
    probe('probe fma in registers', 'fma_chains', fmaIters, { flops: 32 * lanes * fmaIters }),
  ];
}
