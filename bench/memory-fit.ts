// Peak memory of a training step as a function of the batch: peak = fixed + perImage·B + perPixel·B·S².
// fixed: weights (student, teacher), gradients, SGD buffers, kept packings, the queues; perImage: what
// grows with the number of images alone (InfoNCE's logits over K + 1 keys, 64 patch vectors per image
// and stage); perPixel: saved activations and their gradients, per pixel of the input.

export interface MemoryPoint {
  size: number;
  batch: number;
  mib: number;
}

export interface MemoryFit {
  fixedMiB: number;
  perImageMiB: number;
  /** MiB per input pixel (per image); ×2^20 for bytes. */
  perPixelMiB: number;
}

// Pixels in units of a 256² image keep the normal equations well scaled.
const PIXEL_UNIT = 256 * 256;
const terms = (size: number, batch: number): [number, number, number] => [1, batch, (batch * size * size) / PIXEL_UNIT];

/** Least squares of the three terms over `points` (at least three, with distinct batches and pixel counts). */
export function fitMemory(points: readonly MemoryPoint[]): MemoryFit {
  // Normal equations AᵀA·x = Aᵀb, solved by Gaussian elimination with partial pivoting.
  const m = [0, 1, 2].map(() => [0, 0, 0, 0]);
  for (const p of points) {
    const a = terms(p.size, p.batch);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) m[i]![j]! += a[i]! * a[j]!;
      m[i]![3]! += a[i]! * p.mib;
    }
  }
  const norms = m.map((row, i) => row[i]!); // Σ a_i², the scale a pivot is judged against
  for (let col = 0; col < 3; col++) {
    let pivot = col;
    for (let r = col + 1; r < 3; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    const d = m[col]![col]!;
    if (!(Math.abs(d) > 1e-9 * norms[col]!)) {
      throw new Error(`fitMemory: the points (${points.map((p) => `${p.size}²×${p.batch}`).join(', ')}) cannot separate fixed, per-image and per-pixel memory`);
    }
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / d;
      for (let k = col; k < 4; k++) m[r]![k]! -= f * m[col]![k]!;
    }
  }
  const x = m.map((row, i) => row[3]! / row[i]!);
  return { fixedMiB: x[0]!, perImageMiB: x[1]!, perPixelMiB: x[2]! / PIXEL_UNIT };
}

export function predictMiB(fit: MemoryFit, size: number, batch: number): number {
  return fit.fixedMiB + fit.perImageMiB * batch + fit.perPixelMiB * batch * size * size;
}
