// float64 CPU reference for max pooling (src/ops/pool.ts), from PyTorch's documented definition,
// plain loops in scatter form where the GPU kernels gather.
import type { NCHW } from '../helpers.js';

export function maxPoolRef(
  x: ArrayLike<number>,
  [n, c, h, w]: NCHW,
  kernel: number,
  stride: number,
  padding: number,
  dy?: ArrayLike<number>,
): { out: Float64Array; outShape: NCHW; dx: Float64Array } {
  const outH = Math.floor((h + 2 * padding - kernel) / stride) + 1;
  const outW = Math.floor((w + 2 * padding - kernel) / stride) + 1;
  const out = new Float64Array(n * c * outH * outW);
  const dx = new Float64Array(x.length);
  for (let p = 0; p < n * c; p++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let best = -Infinity;
        let bestAt = -1;
        for (let kh = 0; kh < kernel; kh++) {
          for (let kw = 0; kw < kernel; kw++) {
            const ih = oh * stride - padding + kh;
            const iw = ow * stride - padding + kw;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const v = x[(p * h + ih) * w + iw]!;
            if (v > best) {
              best = v;
              bestAt = (p * h + ih) * w + iw;
            }
          }
        }
        const o = (p * outH + oh) * outW + ow;
        out[o] = best;
        if (dy) dx[bestAt] += dy[o]!;
      }
    }
  }
  return { out, outShape: [n, c, outH, outW], dx };
}
