// The segmentation augmentation of recipe §4 on CPU arrays: flip (p 0.5) → scale s ~ U(0.75, 1.25)
// (image antialiased bilinear, label nearest) → random crop, padded centred when smaller (image 0 after
// normalisation, label 255) → normalisation. The key image (CSG's im_k) is the same flipped/scaled
// image after ColorJitter, cropped at the same position. Every random value is drawn up front in a
// fixed order whether or not the key image is made, so baseline and CSG runs see identical draws.
import { IGNORE_LABEL } from './cityscapes.js';
import { luma, resize, resizeNearest, toFloat } from './image.js';
import type { Rng } from './rng.js';

/** out[c] = ((scale255 ? 255·v : v) − mean[c]) / std[c], with channels reversed first when bgr. */
export interface Normalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  bgr: boolean;
  scale255: boolean;
}

export const IMAGENET_NORM: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: false, scale255: false };
/** The Keras/Caffe ResNet-50 weights: BGR, mean subtracted, no /255, no std. */
export const CAFFE_NORM: Normalization = { mean: [103.939, 116.779, 123.68], std: [1, 1, 1], bgr: true, scale255: true };

export interface JitterStrength {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

export interface AugmentOptions {
  /** Crop height and width. */
  crop: [number, number];
  scale?: [number, number];
  flip?: boolean;
  jitter?: JitterStrength;
}

export const CSG_JITTER: JitterStrength = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.4 };

export interface JitterDraw {
  /** Order of brightness (0), contrast (1), saturation (2), hue (3). */
  order: number[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

export interface AugmentDraw {
  flip: boolean;
  scale: number;
  scaledW: number;
  scaledH: number;
  /** Offsets of the crop in the padded, scaled image. */
  cropY: number;
  cropX: number;
  jitter: JitterDraw;
}

/** torchvision's ColorJitter.get_params: the order, then factors U[max(0, 1−x), 1+x], hue U[−x, x]. */
export function drawJitter(rng: Rng, s: JitterStrength): JitterDraw {
  const order = rng.permutation(4);
  const factor = (x: number) => rng.uniform(Math.max(0, 1 - x), 1 + x);
  return { order, brightness: factor(s.brightness), contrast: factor(s.contrast), saturation: factor(s.saturation), hue: rng.uniform(-s.hue, s.hue) };
}

export function drawAugment(rng: Rng, width: number, height: number, opts: AugmentOptions): AugmentDraw {
  const [cropH, cropW] = opts.crop;
  const [lo, hi] = opts.scale ?? [0.75, 1.25];
  const flip = rng.bool(0.5) && opts.flip !== false;
  const scale = rng.uniform(lo, hi);
  const scaledW = Math.max(1, Math.round(width * scale));
  const scaledH = Math.max(1, Math.round(height * scale));
  const cropY = rng.int(Math.max(scaledH, cropH) - cropH + 1);
  const cropX = rng.int(Math.max(scaledW, cropW) - cropW + 1);
  const jitter = drawJitter(rng, opts.jitter ?? CSG_JITTER);
  return { flip, scale, scaledW, scaledH, cropY, cropX, jitter };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
    h /= 6;
    if (h < 0) h += 1;
  }
  return [h, max === 0 ? 0 : d / max, max];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  switch (((i % 6) + 6) % 6) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

/** ColorJitter in place on an HWC RGB image in [0, 1] (torchvision tensor semantics: clamp after each op;
 *  contrast blends with the mean grey level of the whole image, saturation with each pixel's grey). */
export function colorJitter(img: Float32Array, j: JitterDraw): void {
  const n = img.length / 3;
  for (const op of j.order) {
    if (op === 0) {
      for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i] * j.brightness);
    } else if (op === 1) {
      let sum = 0;
      for (let p = 0; p < n; p++) sum += luma(img[3 * p], img[3 * p + 1], img[3 * p + 2]);
      const m = (1 - j.contrast) * (sum / n);
      for (let i = 0; i < img.length; i++) img[i] = clamp01(j.contrast * img[i] + m);
    } else if (op === 2) {
      for (let p = 0; p < n; p++) {
        const g = (1 - j.saturation) * luma(img[3 * p], img[3 * p + 1], img[3 * p + 2]);
        for (let c = 0; c < 3; c++) img[3 * p + c] = clamp01(j.saturation * img[3 * p + c] + g);
      }
    } else {
      for (let p = 0; p < n; p++) {
        const [h, s, v] = rgbToHsv(img[3 * p], img[3 * p + 1], img[3 * p + 2]);
        const rgb = hsvToRgb((((h + j.hue) % 1) + 1) % 1, s, v);
        img[3 * p] = rgb[0];
        img[3 * p + 1] = rgb[1];
        img[3 * p + 2] = rgb[2];
      }
    }
  }
}

/** Normalises one RGB pixel value v ∈ [0, 1] of channel c into output channel order. */
function normalizeInto(out: Float32Array, base: number, plane: number, r: number, g: number, b: number, norm: Normalization): void {
  const k = norm.scale255 ? 255 : 1;
  const ch = norm.bgr ? [b, g, r] : [r, g, b];
  for (let c = 0; c < 3; c++) out[base + c * plane] = (ch[c] * k - norm.mean[c]) / norm.std[c];
}

/** A whole HWC uint8 RGB image → normalised CHW (for evaluation on full images). */
export function normalizeImage(image: Uint8Array, width: number, height: number, norm: Normalization): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) normalizeInto(out, p, plane, image[3 * p] / 255, image[3 * p + 1] / 255, image[3 * p + 2] / 255, norm);
  return out;
}

function flipHorizontal<T extends Uint8Array | Float32Array>(src: T, width: number, height: number, channels: number): T {
  const out = src.slice() as T;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) out[(y * width + x) * channels + c] = src[(y * width + width - 1 - x) * channels + c];
    }
  }
  return out;
}

/** Crops the padded, scaled image at the draw's position into CHW at `base` (padding → 0). */
function cropNormalized(img: Float32Array, d: AugmentDraw, crop: [number, number], norm: Normalization, out: Float32Array, base: number): void {
  const [cropH, cropW] = crop;
  const padTop = Math.floor(Math.max(0, cropH - d.scaledH) / 2);
  const padLeft = Math.floor(Math.max(0, cropW - d.scaledW) / 2);
  const plane = cropH * cropW;
  for (let y = 0; y < cropH; y++) {
    const sy = y + d.cropY - padTop;
    for (let x = 0; x < cropW; x++) {
      const sx = x + d.cropX - padLeft;
      const o = base + y * cropW + x;
      if (sy < 0 || sy >= d.scaledH || sx < 0 || sx >= d.scaledW) {
        for (let c = 0; c < 3; c++) out[o + c * plane] = 0;
      } else {
        const p = (sy * d.scaledW + sx) * 3;
        normalizeInto(out, o, plane, img[p], img[p + 1], img[p + 2], norm);
      }
    }
  }
}

function cropLabel(label: Uint8Array, d: AugmentDraw, crop: [number, number], out: Int32Array, base: number): void {
  const [cropH, cropW] = crop;
  const padTop = Math.floor(Math.max(0, cropH - d.scaledH) / 2);
  const padLeft = Math.floor(Math.max(0, cropW - d.scaledW) / 2);
  for (let y = 0; y < cropH; y++) {
    const sy = y + d.cropY - padTop;
    for (let x = 0; x < cropW; x++) {
      const sx = x + d.cropX - padLeft;
      const inside = sy >= 0 && sy < d.scaledH && sx >= 0 && sx < d.scaledW;
      out[base + y * cropW + x] = inside ? label[sy * d.scaledW + sx] : IGNORE_LABEL;
    }
  }
}

export interface LabelledImage {
  width: number;
  height: number;
  /** HWC RGB uint8. */
  image: Uint8Array;
  /** H×W class ids (255 ignored). */
  label: Uint8Array;
}

export interface Batch {
  n: number;
  height: number;
  width: number;
  /** [N, 3, H, W] normalised. */
  images: Float32Array;
  /** [N, 3, H, W] the ColorJittered key images, when asked for. */
  keys?: Float32Array;
  /** [N, H, W]. */
  labels: Int32Array;
}

/** Augments one sample into slot `i` of a batch with the given draw. */
export function augmentInto(s: LabelledImage, d: AugmentDraw, opts: AugmentOptions, norm: Normalization, batch: Batch, i: number): void {
  const [cropH, cropW] = opts.crop;
  let image = toFloat(s.image);
  let label = s.label;
  if (d.flip) {
    image = flipHorizontal(image, s.width, s.height, 3);
    label = flipHorizontal(label, s.width, s.height, 1);
  }
  const scaled = d.scaledW === s.width && d.scaledH === s.height ? image : resize(image, s.width, s.height, 3, d.scaledW, d.scaledH);
  const scaledLabel = d.scaledW === s.width && d.scaledH === s.height ? label : resizeNearest(label, s.width, s.height, d.scaledW, d.scaledH);
  const base = i * cropH * cropW;
  cropNormalized(scaled, d, opts.crop, norm, batch.images, 3 * base);
  cropLabel(scaledLabel, d, opts.crop, batch.labels, base);
  if (batch.keys) {
    colorJitter(scaled, d.jitter);
    cropNormalized(scaled, d, opts.crop, norm, batch.keys, 3 * base);
  }
}

/** Augments samples into a batch; draws come from `rng` in sample order, identical with or without keys. */
export function makeBatch(samples: LabelledImage[], rng: Rng, opts: AugmentOptions, norm: Normalization, withKeys: boolean): Batch {
  const [height, width] = opts.crop;
  const n = samples.length;
  const batch: Batch = {
    n,
    height,
    width,
    images: new Float32Array(n * 3 * height * width),
    keys: withKeys ? new Float32Array(n * 3 * height * width) : undefined,
    labels: new Int32Array(n * height * width),
  };
  samples.forEach((s, i) => augmentInto(s, drawAugment(rng, s.width, s.height, opts), opts, norm, batch, i));
  return batch;
}
