// float64 references for the driver probes (shaders/probe.wgsl), from their definitions.

const STEP = 4096;

/** load_f32 and load_vec4: per lane, the sum over iterations of the 4 words at (4·lane + i·STEP) & mask. */
export function probeLoadRef(src: ArrayLike<number>, lanes: number, iters: number, mask: number): Float64Array {
  const out = new Float64Array(lanes * 4);
  for (let lane = 0; lane < lanes; lane++) {
    for (let i = 0; i < iters; i++) {
      const j = (4 * lane + i * STEP) & mask;
      for (let k = 0; k < 4; k++) out[lane * 4 + k]! += src[j + k]!;
    }
  }
  return out;
}

/** fma_chains: per lane, Σ over the 4 chains started at s, s+1, s+2, s+3 (s = lane/(lane+1)) of `iters` steps a ← a·scale + shift. */
export function probeFmaRef(lanes: number, iters: number, scale: number, shift: number): Float64Array {
  const out = new Float64Array(lanes * 4);
  for (let lane = 0; lane < lanes; lane++) {
    let total = 0;
    for (let chain = 0; chain < 4; chain++) {
      let a = lane / (lane + 1) + chain;
      for (let i = 0; i < iters; i++) a = a * scale + shift;
      total += a;
    }
    out.fill(total, lane * 4, lane * 4 + 4);
  }
  return out;
}
