// The driver probes of `npm run bench` (shaders/probe.wgsl, bench/suites/probe.ts) compute what their
// rows claim to measure: each lane's sums of the words it loads (scalar and vec4 paths, through the
// window's wrap-around) and its FMA chains, against float64 references.
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { runProbe, probeWindow, probeMask, PROBE_FMA, type ProbeKind } from '../bench/suites/probe.js';
import { useGpu, expectClose } from './helpers.js';
import { probeLoadRef, probeFmaRef } from './ref/probe.js';

useGpu();

const LANES = 128;

async function probe(kind: ProbeKind, iters: number): Promise<ArrayLike<number>> {
  return scopeAsync(async () => {
    const out = Tensor.empty([LANES * 4]);
    runProbe(kind, LANES, iters, Tensor.from(probeWindow(), [probeWindow().length]), out);
    return out.read();
  });
}

test.each(['load_f32', 'load_vec4', 'load_uniform_vec4'] as const)('%s: each lane sums the words at its offsets, wrapping in the window', async (kind) => {
  const iters = 24; // 24 · 4096 words passes the end of either window (65536 words, 16384 for the uniform one)
  expectClose(await probe(kind, iters), probeLoadRef(probeWindow(), LANES, iters, probeMask(kind)), { atol: 1e-5, rtol: 1e-5 });
});

test('fma_chains: four chains of a·scale + shift per lane', async () => {
  const iters = 64;
  expectClose(await probe('fma_chains', iters), probeFmaRef(LANES, iters, PROBE_FMA.scale, PROBE_FMA.shift), { rtol: 1e-5 });
});
