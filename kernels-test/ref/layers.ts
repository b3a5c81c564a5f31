// float64 CPU references for the layer ops (batch norm, pooling, bilinear resize, cross-entropy),
// written from PyTorch's documented definitions with plain loops, in scatter form where the GPU
// kernels gather.

export type NCHW = readonly [number, number, number, number];

export function batchNormRef(
  x: ArrayLike<number>,
  [n, c, h, w]: NCHW,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): { out: Float64Array; mean: Float64Array; invstd: Float64Array; runningMean: Float64Array; runningVar: Float64Array } {
  const hw = h * w;
  const count = n * hw;
  const mean = new Float64Array(c);
  const invstd = new Float64Array(c);
  const newMean = Float64Array.from(runningMean);
  const newVar = Float64Array.from(runningVar);
  for (let ch = 0; ch < c; ch++) {
    let mu = runningMean[ch]!;
    let variance = runningVar[ch]!;
    if (training) {
      let s = 0;
      for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) s += x[(b * c + ch) * hw + k]!;
      mu = s / count;
      let sq = 0;
      for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) sq += (x[(b * c + ch) * hw + k]! - mu) ** 2;
      variance = sq / count;
      newMean[ch] = (1 - momentum) * runningMean[ch]! + momentum * mu;
      newVar[ch] = (1 - momentum) * runningVar[ch]! + momentum * (sq / (count - 1));
    }
    mean[ch] = mu;
    invstd[ch] = 1 / Math.sqrt(variance + eps);
  }
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / hw) % c;
    out[i] = (x[i]! - mean[ch]!) * invstd[ch]! * weight[ch]! + bias[ch]!;
  }
  return { out, mean, invstd, runningMean: newMean, runningVar: newVar };
}

/** Gradients of Σ out·dy: training differentiates through the batch statistics, frozen does not. */
export function batchNormBackwardRef(
  x: ArrayLike<number>,
  shape: NCHW,
  dy: ArrayLike<number>,
  weight: ArrayLike<number>,
  mean: ArrayLike<number>,
  invstd: ArrayLike<number>,
  training: boolean,
): { dx: Float64Array; dWeight: Float64Array; dBias: Float64Array } {
  const [n, c, h, w] = shape;
  const hw = h * w;
  const count = n * hw;
  const dWeight = new Float64Array(c);
  const dBias = new Float64Array(c);
  const dx = new Float64Array(x.length);
  const idx = (b: number, ch: number, k: number) => (b * c + ch) * hw + k;
  for (let ch = 0; ch < c; ch++) {
    for (let b = 0; b < n; b++) {
      for (let k = 0; k < hw; k++) {
        const i = idx(b, ch, k);
        dBias[ch] += dy[i]!;
        dWeight[ch] += dy[i]! * (x[i]! - mean[ch]!) * invstd[ch]!;
      }
    }
    for (let b = 0; b < n; b++) {
      for (let k = 0; k < hw; k++) {
        const i = idx(b, ch, k);
        const xhat = (x[i]! - mean[ch]!) * invstd[ch]!;
        dx[i] = training
          ? (weight[ch]! * invstd[ch]! * (count * dy[i]! - dBias[ch]! - xhat * dWeight[ch]!)) / count
          : dy[i]! * weight[ch]! * invstd[ch]!;
      }
    }
  }
  return { dx, dWeight, dBias };
}

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

/** Mean cross-entropy over pixels whose label is not ignoreIndex (0 when none), and its gradient. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  [n, c, h, w]: NCHW,
  labels: ArrayLike<number>,
  ignoreIndex = 255,
): { loss: number; grad: Float64Array } {
  const hw = h * w;
  const grad = new Float64Array(logits.length);
  let total = 0;
  let valid = 0;
  const softmaxes: [number, number, Float64Array][] = [];
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < hw; k++) {
      const label = labels[b * hw + k]!;
      if (label === ignoreIndex) continue;
      const z = Float64Array.from({ length: c }, (_, ch) => logits[(b * c + ch) * hw + k]!);
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
      total += lse - z[label]!;
      valid++;
      softmaxes.push([b * c * hw + k, label, z.map((v) => Math.exp(v - lse))]);
    }
  }
  for (const [base, label, p] of softmaxes) {
    for (let ch = 0; ch < c; ch++) grad[base + ch * hw] = (p[ch]! - (ch === label ? 1 : 0)) / valid;
  }
  return { loss: valid ? total / valid : 0, grad };
}
