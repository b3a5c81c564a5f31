// float64 CPU references for the parameter updates (src/ops/optim.ts), from recipe §2–§3.

/** k = m·k + (1 − m)·q. */
export function emaRef(k: ArrayLike<number>, q: ArrayLike<number>, m: number): Float64Array {
  return Float64Array.from(k, (v, i) => m * v + (1 - m) * q[i]!);
}

/**
 * One SGD step as the reference optimiser takes it: d = g + wd·p; buf = lr·d on the first step (buf
 * null), else μ·buf + lr·d; p −= buf. Returns the new parameter and momentum.
 */
export function sgdRef(p: ArrayLike<number>, g: ArrayLike<number>, buf: ArrayLike<number> | null, lr: number, momentum: number, weightDecay: number): { p: Float64Array; buf: Float64Array } {
  const d = Float64Array.from(p, (v, i) => g[i]! + weightDecay * v);
  const next = buf ? Float64Array.from(buf, (b, i) => momentum * b + lr * d[i]!) : d.map((v) => lr * v);
  return { p: Float64Array.from(p, (v, i) => v - next[i]!), buf: next };
}
