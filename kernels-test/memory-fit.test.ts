// bench:memory's extrapolation of a step's peak memory (bench/memory-fit.ts).
import { fitMemory, predictMiB } from '../bench/memory-fit.js';

describe('fitMemory', () => {
  const truth = { fixedMiB: 1900, perImageMiB: 70, perPixelMiB: 0.012 };
  const at = (size: number, batch: number) => ({ size, batch, mib: predictMiB(truth, size, batch) });

  test('recovers fixed, per-image and per-pixel memory from exact points and extrapolates', () => {
    const fit = fitMemory([at(64, 2), at(64, 4), at(128, 2), at(128, 3)]);
    expect(fit.fixedMiB).toBeCloseTo(truth.fixedMiB, 6);
    expect(fit.perImageMiB).toBeCloseTo(truth.perImageMiB, 6);
    expect(fit.perPixelMiB).toBeCloseTo(truth.perPixelMiB, 9);
    // 512² batch 6: 1900 + 420 + 0.012·1572864 MiB
    expect(predictMiB(fit, 512, 6)).toBeCloseTo(1900 + 420 + 0.012 * 6 * 512 * 512, 3);
  });

  test('points of one batch cannot separate per-image from fixed memory', () => {
    expect(() => fitMemory([at(64, 2), at(128, 2), at(192, 2)])).toThrow(/cannot separate fixed, per-image and per-pixel/);
  });
});
