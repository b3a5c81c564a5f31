// The hyperspherical energy of a set of feature vectors read back from evaluation (the paper's Table 1
// measure): s = 1, the mean over ordered pairs, at most HSE_MAX_VECTORS of them.
import { Tensor } from '../tensor/index.js';
import { hypersphericalEnergy, HSE_MAX_VECTORS } from '../csg/index.js';

/** HSE (s = 1, mean over pairs) of the rows of `features` [n, dim]; the first HSE_MAX_VECTORS rows when more. */
export async function featureEnergy(features: Float32Array, dim: number): Promise<number> {
  const n = Math.min(features.length / dim, HSE_MAX_VECTORS);
  const rows = Tensor.from(features.subarray(0, n * dim), [n, dim]);
  const e = hypersphericalEnergy(rows, { s: 1 });
  const value = await e.item();
  e.dispose();
  rows.dispose();
  return value;
}
