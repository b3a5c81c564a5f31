// float64 CPU reference for InfoNCE against a queue (src/ops/nce.ts), written from recipe §2.

export interface NceRef {
  loss: number;
  rowLoss: Float64Array;
  ranks: number[];
  /** Gradient of the mean loss to q [N, D]. */
  dq: Float64Array;
}

/** InfoNCE from the definition: logits [q·k, q·queue_j] / τ, cross-entropy to index 0, mean over N. */
export function infoNceRef(q: ArrayLike<number>, k: ArrayLike<number>, queue: ArrayLike<number>, n: number, dim: number, keys: number, tau: number): NceRef {
  const rowLoss = new Float64Array(n);
  const dq = new Float64Array(n * dim);
  const ranks: number[] = [];
  for (let i = 0; i < n; i++) {
    const logits = new Float64Array(keys + 1);
    for (let d = 0; d < dim; d++) logits[0]! += (q[i * dim + d]! * k[i * dim + d]!) / tau;
    for (let j = 0; j < keys; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += q[i * dim + d]! * queue[d * keys + j]!;
      logits[j + 1] = s / tau;
    }
    const max = Math.max(...logits);
    let sum = 0;
    for (const l of logits) sum += Math.exp(l - max);
    const lse = max + Math.log(sum);
    rowLoss[i] = lse - logits[0]!;
    ranks.push(logits.slice(1).filter((l) => l > logits[0]!).length);
    for (let d = 0; d < dim; d++) {
      let g = (Math.exp(logits[0]! - lse) - 1) * k[i * dim + d]!;
      for (let j = 0; j < keys; j++) g += Math.exp(logits[j + 1]! - lse) * queue[d * keys + j]!;
      dq[i * dim + d] = g / (tau * n);
    }
  }
  return { loss: rowLoss.reduce((a, v) => a + v, 0) / n, rowLoss, ranks, dq };
}
