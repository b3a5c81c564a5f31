// float64 CPU reference for bilinear resizing (src/ops/resize.ts), from PyTorch's documented
// definition (both align_corners), plain loops in scatter form where the GPU kernels gather.
import type { NCHW } from '../helpers.js';

/** Source index taps of one output index along one axis (PyTorch's area_pixel_compute_source_index). */
function taps(dst: number, inSize: number, outSize: number, alignCorners: boolean): [number, number, number, number] {
  const src = alignCorners
    ? outSize > 1
      ? (dst * (inSize - 1)) / (outSize - 1)
      : 0
    : Math.max(((dst + 0.5) * inSize) / outSize - 0.5, 0);
  const i0 = Math.floor(src);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  const l1 = src - i0;
  return [i0, i1, 1 - l1, l1];
}

export function bilinearRef(
  x: ArrayLike<number>,
  [n, c, h, w]: NCHW,
  outH: number,
  outW: number,
  alignCorners: boolean,
  dy?: ArrayLike<number>,
): { out: Float64Array; dx: Float64Array } {
  const out = new Float64Array(n * c * outH * outW);
  const dx = new Float64Array(x.length);
  for (let p = 0; p < n * c; p++) {
    for (let oy = 0; oy < outH; oy++) {
      const [y0, y1, wy0, wy1] = taps(oy, h, outH, alignCorners);
      for (let ox = 0; ox < outW; ox++) {
        const [x0, x1, wx0, wx1] = taps(ox, w, outW, alignCorners);
        const o = (p * outH + oy) * outW + ox;
        const corners: [number, number, number][] = [
          [y0, x0, wy0 * wx0],
          [y0, x1, wy0 * wx1],
          [y1, x0, wy1 * wx0],
          [y1, x1, wy1 * wx1],
        ];
        for (const [iy, ix, wt] of corners) {
          const i = (p * h + iy) * w + ix;
          out[o] += wt * x[i]!;
          if (dy) dx[i] += wt * dy[o]!;
        }
      }
    }
  }
  return { out, dx };
}
