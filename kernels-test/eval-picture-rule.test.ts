import { evenlySpaced } from '../src/eval/evaluate.js';

// predictions.png shows images chosen by their position in the split, never by their score.
describe('evenlySpaced: which real-test images the predictions picture shows', () => {
  test('8 of 500: ⌊k·500/8⌋, starting at the first image, spread over the whole split', () => {
    expect(evenlySpaced(500, 8)).toEqual([0, 62, 125, 187, 250, 312, 375, 437]);
  });
  test('fewer images than rows: each once, in order; none asked or none there: empty', () => {
    expect(evenlySpaced(3, 8)).toEqual([0, 1, 2]);
    expect(evenlySpaced(8, 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(evenlySpaced(0, 8)).toEqual([]);
    expect(evenlySpaced(10, 0)).toEqual([]);
  });
  test('indices are distinct, increasing and inside the split for many sizes', () => {
    for (let count = 1; count < 300; count += 7) {
      for (const n of [1, 5, 8, 13]) {
        const idx = evenlySpaced(count, n);
        expect(idx).toHaveLength(Math.min(n, count));
        idx.forEach((v, k) => {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThan(count);
          if (k > 0) expect(v).toBeGreaterThan(idx[k - 1]!);
        });
      }
    }
  });
  test('bad counts are refused by name', () => {
    expect(() => evenlySpaced(-1, 8)).toThrow(/count -1 and n 8/);
    expect(() => evenlySpaced(10, 2.5)).toThrow(/non-negative integers/);
  });
});
