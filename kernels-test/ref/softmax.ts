// float64 CPU references for softmax and log-softmax along one axis, from the definitions.

/** Calls f with the flat indices of every line along `axis` of a row-major tensor of `shape`. */
function forEachLine(shape: number[], axis: number, f: (indices: number[]) => void): void {
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const r = shape[axis]!;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) f(Array.from({ length: r }, (_, k) => (o * r + k) * inner + i));
  }
}

export function softmaxRef(x: ArrayLike<number>, shape: number[], axis: number, log: boolean): Float64Array {
  const out = new Float64Array(x.length);
  forEachLine(shape, axis, (idx) => {
    const m = Math.max(...idx.map((i) => x[i]!));
    const lse = m + Math.log(idx.reduce((s, i) => s + Math.exp(x[i]! - m), 0));
    for (const i of idx) out[i] = log ? x[i]! - lse : Math.exp(x[i]! - lse);
  });
  return out;
}

/** Gradient of Σ g·f(x) for f = softmax or log-softmax along `axis`, from the Jacobian. */
export function softmaxGradRef(x: ArrayLike<number>, g: ArrayLike<number>, shape: number[], axis: number, log: boolean): Float64Array {
  const p = softmaxRef(x, shape, axis, false);
  const dx = new Float64Array(x.length);
  forEachLine(shape, axis, (idx) => {
    for (const j of idx) {
      // ∂softmax_i/∂x_j = p_i(δij − p_j); ∂logsoftmax_i/∂x_j = δij − p_j.
      let s = 0;
      for (const i of idx) s += g[i]! * (log ? (i === j ? 1 : 0) - p[j]! : p[i]! * ((i === j ? 1 : 0) - p[j]!));
      dx[j] = s;
    }
  });
  return dx;
}
