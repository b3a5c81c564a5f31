// The hyperspherical energy (src/ops/hse.ts through src/csg's hypersphericalEnergy): pinned on a
// regular simplex and against a float64 reference.
import { Tensor, scope } from '../src/tensor/index.js';
import { hypersphericalEnergy } from '../src/csg/index.js';
import { useGpu, randn, expectClose } from './helpers.js';
import { hseRef } from './ref/hse.js';

useGpu();

describe('hyperspherical energy', () => {
  // Regular simplex of n vertices in R^n (e_i minus the centroid): every pair has cos = −1/(n−1), so
  // ‖ŵ_i − ŵ_j‖² = 2n/(n−1) for all i ≠ j.
  test('pinned on a regular simplex: mean over ordered pairs, eps inside the root', async () => {
    const n = 5;
    const x = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) x[i * n + j] = (i === j ? 1 : 0) - 1 / n;
    const eps = 1e-6;
    const dist = Math.sqrt((2 * n) / (n - 1) + eps);
    const expected = { 0: Math.log(1 / dist), 1: 1 / dist, 2: 1 / dist ** 2 };
    for (const s of [0, 1, 2] as const) {
      const mean = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, n]), { s })).item();
      expectClose([mean], [expected[s]], { atol: 1e-6, rtol: 1e-5 }, `E_${s} mean`);
      const total = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, n]), { s, reduction: 'sum' })).item();
      expectClose([total], [expected[s] * n * (n - 1)], { atol: 1e-5, rtol: 1e-5 }, `E_${s} sum`);
    }
  });
  test('random vectors against float64', async () => {
    const [n, d] = [70, 9];
    const x = randn(n * d, 40);
    for (const s of [0, 1, 2] as const) {
      const got = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, d]), { s })).item();
      expectClose([got], [hseRef(x, n, d, s, 1e-6)], { atol: 1e-5, rtol: 1e-4 }, `E_${s}`);
    }
    expect(() => scope(() => hypersphericalEnergy(Tensor.from([1, 2], [1, 2]), { s: 1 }))).toThrow(/2 to 10000 vectors/);
  });
});
