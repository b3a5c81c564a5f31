// countNonFinite (the checkpoint's finiteness check) against its CPU reference: NaN and ±Inf are
// counted, the largest finite floats, subnormals and -0 are not, slices count only their own range,
// and sizes straddle the 4096-element workgroup span.
import { Tensor } from '../src/tensor/index.js';
import { countNonFinite } from '../src/ops/index.js';
import { useGpu, randn, rng } from './helpers.js';
import { countNonFiniteRef } from './ref/reduce.js';

useGpu();

/** Random values with NaN, ±Inf and finite edge cases planted at random positions. */
function planted(n: number, seed: number, bad: number): Float32Array {
  const x = Float32Array.from(randn(n, seed));
  const r = rng(seed + 1);
  const specials = [NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -0, 1.17e-38];
  for (let k = 0; k < bad; k++) x[Math.floor(r() * n)] = specials[k % specials.length]!;
  return x;
}

test('counts the NaN and ±Inf elements of each tensor, as the CPU reference does', async () => {
  const arrays = [planted(1, 1, 1), planted(255, 2, 3), planted(4096, 3, 40), planted(4097, 4, 17), planted(70_000, 5, 500), planted(333, 6, 0)];
  arrays.push(new Float32Array([NaN, NaN, NaN]));
  const tensors = arrays.map((a) => Tensor.from(a, [a.length]));
  const counts = countNonFinite(tensors);
  const got = Array.from(await counts.read());
  const want = countNonFiniteRef(arrays);
  expect(want.some((c) => c > 0)).toBe(true);
  expect(want[5]).toBe(0);
  expect(got).toEqual(want);
  for (const t of [...tensors, counts]) t.dispose();
});

test('a slice counts only its own range, and an empty tensor counts 0', async () => {
  const data = new Float32Array(1024).fill(NaN);
  data.fill(1, 128, 288);
  data[200] = Infinity;
  const base = Tensor.from(data, [1024]);
  const mid = base.slice(128, [160]); // binds 256 bytes more than its 160 values, all NaN
  const empty = Tensor.from([], [0]);
  const counts = countNonFinite([mid, empty, base]);
  expect(Array.from(await counts.read())).toEqual([1, 0, countNonFiniteRef([data])[0]]);
  for (const t of [mid, empty, base, counts]) t.dispose();
});

test('refuses non-f32 tensors and an empty list', () => {
  const ints = Tensor.from([1, 2], [2], 'i32');
  expect(() => countNonFinite([ints])).toThrow(/expected a f32 tensor/);
  expect(() => countNonFinite([])).toThrow(/no tensors/);
  ints.dispose();
});
