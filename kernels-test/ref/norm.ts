// float64 CPU references for the norms (src/ops/norm.ts): batch norm from PyTorch's documented
// definition and L2 normalisation of rows (F.normalize), plain loops.
import type { NCHW } from '../helpers.js';

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

/** Rows x [rows, dim] → x / max(‖x‖, eps). */
export function l2NormalizeRef(x: ArrayLike<number>, rows: number, dim: number, eps = 1e-12): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r * dim + d]! ** 2;
    const norm = Math.max(Math.sqrt(s), eps);
    for (let d = 0; d < dim; d++) out[r * dim + d] = x[r * dim + d]! / norm;
  }
  return out;
}
