// The per-row sums of the hyperspherical energy (recipe §6), the O(N²·D) part of the measure; src/csg's
// hypersphericalEnergy normalises the rows first and reduces these sums. A measurement: no backward.
// WGSL: shaders/hse.wgsl · reference: kernels-test/ref/hse.ts · test: kernels-test/hse.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, assertDtype, shapeStr } from '../tensor/index.js';

// unit [N, D] → [N]
/**
 * unit [N, D] (unit rows) → [N]: row i's Σ_{j≠i} f_s(d_ij), d_ij = sqrt(max(2 − 2·u_i·u_j, 0) + eps),
 * f_0(d) = log(1/d), f_s(d) = d^(−s).
 */
export function hseRowSums(unit: Tensor, s: number, eps: number): Tensor {
  assertDtype(unit, 'f32', 'hseRowSums');
  if (unit.rank !== 2) throw new TensorError(`hseRowSums: expected vectors [N, D], got ${shapeStr(unit.shape)}`);
  const [n, dim] = unit.shape as [number, number];
  const rows = Tensor.empty([n]);
  gpu().run({ family: 'hse', entry: 'hse_rows' }, { x: unit.binding, out: rows.binding }, { n, dim, s, eps }, grid(Math.ceil(n / 64)));
  return rows;
}
