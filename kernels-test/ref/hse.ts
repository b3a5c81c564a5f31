// float64 CPU reference for the hyperspherical energy (src/ops/hse.ts, src/csg/hse.ts), from recipe §6.
import { l2NormalizeRef } from './norm.js';

/** Hyperspherical energy, mean over ordered pairs i ≠ j of f_s(sqrt(‖ŵ_i − ŵ_j‖² + eps)) (sum when mean = false). */
export function hseRef(x: ArrayLike<number>, n: number, dim: number, s: number, eps: number, mean = true): number {
  const w = l2NormalizeRef(x, n, dim);
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      let sq = 0;
      for (let d = 0; d < dim; d++) sq += (w[i * dim + d]! - w[j * dim + d]!) ** 2;
      const dist = Math.sqrt(sq + eps);
      total += s === 0 ? Math.log(1 / dist) : dist ** -s;
    }
  return mean ? total / (n * (n - 1)) : total;
}
