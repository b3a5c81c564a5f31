// CPU reference of a torchvision ResNet (Bottleneck) forward in eval mode, float64 plain loops written
// from the definitions, for one image, from a safetensors state dict. Slow (seconds per 224×224 image) and
// meant for smoke tests and as the reference of the GPU model.
import { toFloat32, type StateDict } from '../../src/io/safetensors.js';

/** One image's feature map, CHW. */
export interface FeatureMap {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

/** Convolution without bias, square kernel k, weight OIHW. Output channels go four at a time so each input value is loaded once per four. */
export function conv2dRef(x: FeatureMap, weight: Float32Array, outChannels: number, k: number, stride: number, padding: number): FeatureMap {
  const oh = Math.floor((x.h + 2 * padding - k) / stride) + 1;
  const ow = Math.floor((x.w + 2 * padding - k) / stride) + 1;
  const plane = oh * ow;
  const out = new Float64Array(outChannels * plane);
  const wAt = (o: number, i: number, ky: number, kx: number) => (o < outChannels ? weight[((o * x.c + i) * k + ky) * k + kx] : 0);
  for (let o0 = 0; o0 < outChannels; o0 += 4) {
    // A partial last block writes its unused lanes into lane 0's plane with weight 0.
    const base = [0, 1, 2, 3].map((j) => (o0 + j < outChannels ? o0 + j : o0) * plane);
    for (let i = 0; i < x.c; i++) {
      const inBase = i * x.h * x.w;
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const w0 = wAt(o0, i, ky, kx);
          const w1 = wAt(o0 + 1, i, ky, kx);
          const w2 = wAt(o0 + 2, i, ky, kx);
          const w3 = wAt(o0 + 3, i, ky, kx);
          // Output columns whose input column ox·stride + kx − padding lies inside the image.
          const oxLo = Math.max(0, Math.ceil((padding - kx) / stride));
          const oxHi = Math.min(ow - 1, Math.floor((x.w - 1 + padding - kx) / stride));
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * stride + ky - padding;
            if (iy < 0 || iy >= x.h) continue;
            const inRow = inBase + iy * x.w + kx - padding;
            const r = oy * ow;
            const r0 = base[0] + r;
            const r1 = base[1] + r;
            const r2 = base[2] + r;
            const r3 = base[3] + r;
            for (let ox = oxLo; ox <= oxHi; ox++) {
              const v = x.data[inRow + ox * stride];
              out[r0 + ox] += w0 * v;
              out[r1 + ox] += w1 * v;
              out[r2 + ox] += w2 * v;
              out[r3 + ox] += w3 * v;
            }
          }
        }
      }
    }
  }
  return { c: outChannels, h: oh, w: ow, data: out };
}

/** Eval-mode BN (running statistics), optionally followed by ReLU, in place. */
function batchNormRef(x: FeatureMap, sd: StateDict, prefix: string, eps: number, relu: boolean): FeatureMap {
  const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => toFloat32(sd.get(`${prefix}.${p}`)!, `${prefix}.${p}`));
  const hw = x.h * x.w;
  for (let c = 0; c < x.c; c++) {
    const scale = gamma[c] / Math.sqrt(variance[c] + eps);
    const shift = beta[c] - mean[c] * scale;
    for (let p = c * hw; p < (c + 1) * hw; p++) {
      const v = x.data[p] * scale + shift;
      x.data[p] = relu && v < 0 ? 0 : v;
    }
  }
  return x;
}

function maxPool3x3s2p1(x: FeatureMap): FeatureMap {
  const oh = Math.floor((x.h - 1) / 2) + 1;
  const ow = Math.floor((x.w - 1) / 2) + 1;
  const out = new Float64Array(x.c * oh * ow);
  for (let c = 0; c < x.c; c++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let m = -Infinity;
        for (let y = oy * 2 - 1; y <= oy * 2 + 1; y++)
          for (let xx = ox * 2 - 1; xx <= ox * 2 + 1; xx++) if (y >= 0 && y < x.h && xx >= 0 && xx < x.w) m = Math.max(m, x.data[(c * x.h + y) * x.w + xx]);
        out[(c * oh + oy) * ow + ox] = m;
      }
  return { c: x.c, h: oh, w: ow, data: out };
}

function conv(sd: StateDict, name: string, x: FeatureMap, stride: number, padding: number): FeatureMap {
  const w = sd.get(`${name}.weight`)!;
  return conv2dRef(x, toFloat32(w, name), w.shape[0], w.shape[2], stride, padding);
}

/**
 * Logits of a torchvision-named ResNet for one CHW image. `strideIn1x1` puts each stage's stride on the
 * block's first 1×1 conv (Caffe/Keras weights) instead of the 3×3 (torchvision).
 */
export function resnetForwardRef(sd: StateDict, image: FeatureMap, { blocks = [3, 4, 6, 3], strideIn1x1 = false, eps = 1e-5 } = {}): Float64Array {
  let x = batchNormRef(conv(sd, 'conv1', image, 2, 3), sd, 'bn1', eps, true);
  x = maxPool3x3s2p1(x);
  blocks.forEach((count, l) => {
    for (let b = 0; b < count; b++) {
      const p = `layer${l + 1}.${b}`;
      const stride = b === 0 && l > 0 ? 2 : 1;
      let out = batchNormRef(conv(sd, `${p}.conv1`, x, strideIn1x1 ? stride : 1, 0), sd, `${p}.bn1`, eps, true);
      out = batchNormRef(conv(sd, `${p}.conv2`, out, strideIn1x1 ? 1 : stride, 1), sd, `${p}.bn2`, eps, true);
      out = batchNormRef(conv(sd, `${p}.conv3`, out, 1, 0), sd, `${p}.bn3`, eps, false);
      const identity = b === 0 ? batchNormRef(conv(sd, `${p}.downsample.0`, x, stride, 0), sd, `${p}.downsample.1`, eps, false) : x;
      for (let i = 0; i < out.data.length; i++) out.data[i] = Math.max(0, out.data[i] + identity.data[i]);
      x = out;
    }
  });
  const hw = x.h * x.w;
  const pooled = Float64Array.from({ length: x.c }, (_, c) => x.data.subarray(c * hw, (c + 1) * hw).reduce((s, v) => s + v, 0) / hw);
  const fcWeight = sd.get('fc.weight')!;
  const w = toFloat32(fcWeight, 'fc.weight');
  const bias = toFloat32(sd.get('fc.bias')!, 'fc.bias');
  const [classes, features] = fcWeight.shape;
  return Float64Array.from({ length: classes }, (_, o) => {
    let s = bias[o];
    for (let i = 0; i < features; i++) s += w[o * features + i] * pooled[i];
    return s;
  });
}
