// float64 CPU reference for the pixel cross-entropy (src/ops/loss.ts), from PyTorch's documented
// definition, plain loops.
import type { NCHW } from '../helpers.js';

/** Mean cross-entropy over pixels whose label is not ignoreIndex (0 when none), and its gradient. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  [n, c, h, w]: NCHW,
  labels: ArrayLike<number>,
  ignoreIndex = 255,
): { loss: number; grad: Float64Array } {
  const hw = h * w;
  const grad = new Float64Array(logits.length);
  let total = 0;
  let valid = 0;
  const softmaxes: [number, number, Float64Array][] = [];
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < hw; k++) {
      const label = labels[b * hw + k]!;
      if (label === ignoreIndex) continue;
      const z = Float64Array.from({ length: c }, (_, ch) => logits[(b * c + ch) * hw + k]!);
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
      total += lse - z[label]!;
      valid++;
      softmaxes.push([b * c * hw + k, label, z.map((v) => Math.exp(v - lse))]);
    }
  }
  for (const [base, label, p] of softmaxes) {
    for (let ch = 0; ch < c; ch++) grad[base + ch * hw] = (p[ch]! - (ch === label ? 1 : 0)) / valid;
  }
  return { loss: valid ? total / valid : 0, grad };
}
