import { Tensor, scope } from '../src/tensor/index.js';
import { dropout } from '../src/ops/index.js';
import { outputAndGrad } from './layer-helpers.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';

useGpu();

/** Output of dropout and the gradient of Σ dropout(x)·dy. */
async function forwardBackward(x: ArrayLike<number>, p: number, seed: number, dy: ArrayLike<number>) {
  const { out, dx } = await outputAndGrad((t) => dropout(t, p, seed), x, [x.length], dy);
  return { out, g: dx };
}

describe('dropout', () => {
  const n = 40000;
  const x = randn(n, 90).map((v) => (v === 0 ? 1 : v));
  const dy = randn(n, 91);

  test('p = 0 is an exact identity, gradient included', async () => {
    const { out, g } = await forwardBackward(x, 0, 5, dy);
    expectClose(out, Float32Array.from(x), { atol: 0, rtol: 0 }, 'output');
    expectClose(g, Float32Array.from(dy), { atol: 0, rtol: 0 }, 'gradient');
  });

  for (const p of [0.1, 0.5, 0.9]) {
    test(`p = ${p}: keep rate within 5σ, kept values scaled by 1/(1−p), backward reuses the mask`, async () => {
      const { out, g } = await forwardBackward(x, p, 1234, dy);
      const x32 = Float32Array.from(x);
      const dy32 = Float32Array.from(dy);
      let kept = 0;
      const wrong: string[] = [];
      for (let i = 0; i < n && wrong.length < 5; i++) {
        if (out[i] === 0) {
          if (g[i] !== 0) wrong.push(`element ${i} dropped in forward but has gradient ${g[i]}`);
          continue;
        }
        kept++;
        if (Math.abs(out[i]! - x32[i]! / (1 - p)) > 1e-6 * Math.abs(out[i]!)) wrong.push(`output ${i} is ${out[i]}, expected ${x32[i]! / (1 - p)}`);
        if (Math.abs(g[i]! - dy32[i]! / (1 - p)) > 1e-6 * Math.abs(g[i]!)) wrong.push(`gradient ${i} is ${g[i]}, expected ${dy32[i]! / (1 - p)}`);
      }
      expect(wrong).toEqual([]);
      const sigma = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * sigma);
    });
  }

  test('same seed gives the same mask; another seed another mask; masks are uncorrelated with position', async () => {
    const ones = new Array(n).fill(1);
    const a = await forwardBackward(ones, 0.5, 7, ones);
    const b = await forwardBackward(ones, 0.5, 7, ones);
    const c = await forwardBackward(ones, 0.5, 8, ones);
    expect(Array.from(b.out)).toEqual(Array.from(a.out));
    let same = 0;
    let runs = 0;
    for (let i = 0; i < n; i++) {
      if ((a.out[i] === 0) === (c.out[i] === 0)) same++;
      if (i > 0 && (a.out[i] === 0) !== (a.out[i - 1] === 0)) runs++;
    }
    // Independent masks agree on about half the elements; neighbours flip about half the time.
    const sigma = Math.sqrt(n * 0.25);
    expect(Math.abs(same - n / 2)).toBeLessThan(5 * sigma);
    expect(Math.abs(runs - (n - 1) / 2)).toBeLessThan(5 * sigma);
  });

  test('p = 1 gives zeros and a zero gradient', async () => {
    const { out, g } = await forwardBackward(x.slice(0, 100), 1, 3, dy.slice(0, 100));
    expect(Array.from(out).every((v) => v === 0)).toBe(true);
    expect(Array.from(g).every((v) => v === 0)).toBe(true);
  });

  test('gradient by finite differences', async () => {
    await gradCheck((t) => dropout(t, 0.3, 42), [{ data: randn(60, 92), shape: [3, 4, 5] }]);
  });

  test('bad input', () => {
    scope(() => {
      const t = Tensor.empty([4]);
      expect(() => dropout(t, 1.5, 0)).toThrow(/p must be in \[0, 1\]/);
      expect(() => dropout(t, 0.5, -1)).toThrow(/seed must be an integer/);
      expect(() => dropout(t, 0.5, 0.5)).toThrow(/seed must be an integer/);
      expect(() => dropout(Tensor.empty([4], 'i32'), 0.5, 1)).toThrow(/expected a f32/);
    });
  });
});
