// Hyperspherical energy (recipe §6), the paper's measure of how uniformly vectors spread (its kernel:
// src/ops/hse.ts).
import { Tensor, TensorError, assertDtype, shapeStr } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { l2Normalize, hseRowSums, scale, sumAll } from '../ops/index.js';

export interface HseOptions {
  /** Power s: f_s(d) = d^(−s) for s > 0, f_0(d) = log(1/d). */
  s: 0 | 1 | 2;
  /** 'mean' over the N·(N − 1) ordered pairs i ≠ j (default) or their 'sum'. */
  reduction?: 'mean' | 'sum';
  /** Added to the squared distance inside the root: d_ij = sqrt(‖ŵ_i − ŵ_j‖² + eps). Default 1e-6. */
  eps?: number;
}

/** Most vectors taken: the O(N²·D) kernel runs one invocation per row. */
export const HSE_MAX_VECTORS = 10000;

/**
 * Hyperspherical energy of the rows of x [N, D] after L2 normalisation (ŵ_i = x_i / ‖x_i‖):
 * E_s = reduce_{i≠j} f_s(d_ij), d_ij = sqrt(max(2 − 2·ŵ_i·ŵ_j, 0) + eps) = sqrt(‖ŵ_i − ŵ_j‖² + eps).
 * Default: the mean over ordered pairs with eps = 1e-6. A measurement: no gradient. Returns a scalar [].
 */
export function hypersphericalEnergy(x: Tensor, { s, reduction = 'mean', eps = 1e-6 }: HseOptions): Tensor {
  assertDtype(x, 'f32', 'hypersphericalEnergy');
  if (x.rank !== 2) throw new TensorError(`hypersphericalEnergy: expected vectors [N, D], got ${shapeStr(x.shape)}`);
  const n = x.shape[0]!;
  if (n < 2 || n > HSE_MAX_VECTORS) throw new TensorError(`hypersphericalEnergy: needs 2 to ${HSE_MAX_VECTORS} vectors, got ${n}`);
  if (![0, 1, 2].includes(s)) throw new TensorError(`hypersphericalEnergy: s must be 0, 1 or 2, got ${s}`);
  return noGrad(() => {
    const unit = l2Normalize(x);
    const rows = hseRowSums(unit, s, eps);
    const total = sumAll(rows);
    const out = reduction === 'mean' ? scale(total, 1 / (n * (n - 1))) : total.view([]);
    for (const t of [unit, rows, total]) t.dispose();
    return out;
  });
}
