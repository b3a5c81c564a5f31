// The segmentation augmentation of recipe §4 on CPU arrays: flip (p 0.5) → scale s ~ U(0.75, 1.25)
// (image antialiased bilinear, label nearest) → random crop, padded centred when smaller (image 0 after
// normalisation, label 255) → normalisation. The key image (CSG's im_k) is the same flipped/scaled
// image after ColorJitter, cropped at the same position. Every random value is drawn up front in a
// fixed order whether or not the key image is made, so baseline and CSG runs see identical draws.
import { luma, resize, resizeNearest, toFloat, type Window } from './image.js';
import type { Rng } from './rng.js';

/** The label of pixels that count for nothing (padding, void). */
export const IGNORE_LABEL = 255;

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
/**
 * The Caffe weights fed inputs of unit scale: CAFFE_NORM divided by ImageNet's std (×255, BGR), with
 * conv1's weights multiplied by the same std on loading (unitInputConv1), so the network computes the
 * same function. SGD is not scale-invariant: on 0–255 inputs conv1's weights are ~58× smaller and its
 * gradients ~58× larger than on unit inputs, so fine-tuning moves conv1 ~3400× faster relative to its
 * size than it does in torchvision's convention (train:cls did not learn with it, docs/CLASSIFICATION.md).
 */
export const CAFFE_UNIT_NORM: Normalization = { ...CAFFE_NORM, std: [0.225 * 255, 0.224 * 255, 0.229 * 255] };

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

/** Recipe §4 training augmentation: flip, scale 0.75–1.25, crop, ColorJitter key image. */
export function recipeAugment(crop: [number, number]): AugmentOptions {
  return { crop, scale: [0.75, 1.25], flip: true, jitter: CSG_JITTER };
}

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
 *  contrast blends with the mean grey level of the whole image, saturation with each pixel's grey).
 *  When the image is a crop, `reference` (pixels of the whole image, HWC) goes through the same ops and
 *  gives the contrast mean instead. */
export function colorJitter(img: Float32Array, j: JitterDraw, reference?: Float32Array): void {
  const ref = reference ? Float32Array.from(reference) : null;
  for (const op of j.order) {
    if (op === 1) {
      const source = ref ?? img;
      let sum = 0;
      for (let p = 0; p < source.length / 3; p++) sum += luma(source[3 * p], source[3 * p + 1], source[3 * p + 2]);
      const mean = sum / (source.length / 3);
      adjustContrast(img, j.contrast, mean);
      if (ref) adjustContrast(ref, j.contrast, mean);
    } else {
      jitterPixels(img, op, j);
      if (ref) jitterPixels(ref, op, j);
    }
  }
}

function adjustContrast(img: Float32Array, factor: number, mean: number): void {
  const m = (1 - factor) * mean;
  for (let i = 0; i < img.length; i++) img[i] = clamp01(factor * img[i] + m);
}

/** The per-pixel ops: brightness (0), saturation (2), hue (3). */
function jitterPixels(img: Float32Array, op: number, j: JitterDraw): void {
  const n = img.length / 3;
  if (op === 0) {
    for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i] * j.brightness);
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

function flipHorizontal(src: Float32Array, width: number, height: number, channels: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) out[(y * width + x) * channels + c] = src[(y * width + width - 1 - x) * channels + c];
    }
  }
  return out;
}

/** The part of the flipped, scaled image that the crop sees, and where it lands in the crop. */
function cropWindow(d: AugmentDraw, crop: [number, number]): { win: Window; top: number; left: number } {
  const [cropH, cropW] = crop;
  const padTop = Math.floor(Math.max(0, cropH - d.scaledH) / 2);
  const padLeft = Math.floor(Math.max(0, cropW - d.scaledW) / 2);
  const y0 = Math.max(0, d.cropY - padTop);
  const y1 = Math.min(d.scaledH, d.cropY - padTop + cropH);
  const x0 = Math.max(0, d.cropX - padLeft);
  const x1 = Math.min(d.scaledW, d.cropX - padLeft + cropW);
  return { win: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, top: y0 - (d.cropY - padTop), left: x0 - (d.cropX - padLeft) };
}

/** Writes the window (HWC, [0, 1]) normalised into a CHW crop at `base`; the rest of the crop is 0. */
function placeNormalized(part: Float32Array, at: { win: Window; top: number; left: number }, crop: [number, number], norm: Normalization, out: Float32Array, base: number): void {
  const [cropH, cropW] = crop;
  const plane = cropH * cropW;
  out.fill(0, base, base + 3 * plane);
  for (let y = 0; y < at.win.height; y++) {
    for (let x = 0; x < at.win.width; x++) {
      const p = (y * at.win.width + x) * 3;
      normalizeInto(out, base + (y + at.top) * cropW + x + at.left, plane, part[p], part[p + 1], part[p + 2], norm);
    }
  }
}

function placeLabel(part: Uint8Array, at: { win: Window; top: number; left: number }, crop: [number, number], out: Int32Array, base: number): void {
  const [cropH, cropW] = crop;
  out.fill(IGNORE_LABEL, base, base + cropH * cropW);
  for (let y = 0; y < at.win.height; y++) {
    for (let x = 0; x < at.win.width; x++) out[base + (y + at.top) * cropW + x + at.left] = part[y * at.win.width + x];
  }
}

/** At most ~65k pixels of the source on a regular grid: the reference for ColorJitter's contrast mean. */
function contrastReference(image: Float32Array, width: number, height: number): Float32Array {
  const step = Math.max(1, Math.ceil(Math.sqrt((width * height) / 65536)));
  const out: number[] = [];
  for (let y = 0; y < height; y += step) for (let x = 0; x < width; x += step) out.push(image[(y * width + x) * 3], image[(y * width + x) * 3 + 1], image[(y * width + x) * 3 + 2]);
  return Float32Array.from(out);
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

/** Augments one sample into slot `i` of a batch with the given draw. Only the part of the scaled image
 *  that the crop sees is resampled (the antialiased filter is symmetric, so flipping after scaling
 *  equals flipping before); labels are sampled from the flipped source as flip-then-scale does. */
export function augmentInto(s: LabelledImage, d: AugmentDraw, opts: AugmentOptions, norm: Normalization, batch: Batch, i: number): void {
  const [cropH, cropW] = opts.crop;
  const at = cropWindow(d, opts.crop);
  const mirrored: Window = { ...at.win, x: d.flip ? d.scaledW - at.win.x - at.win.width : at.win.x };
  const image = toFloat(s.image);
  let part = resize(image, s.width, s.height, 3, d.scaledW, d.scaledH, mirrored);
  if (d.flip) part = flipHorizontal(part, at.win.width, at.win.height, 3);
  const label = resizeNearest(s.label, s.width, s.height, d.scaledW, d.scaledH, at.win, d.flip);
  const base = i * cropH * cropW;
  placeNormalized(part, at, opts.crop, norm, batch.images, 3 * base);
  placeLabel(label, at, opts.crop, batch.labels, base);
  if (batch.keys) {
    colorJitter(part, d.jitter, contrastReference(image, s.width, s.height));
    placeNormalized(part, at, opts.crop, norm, batch.keys, 3 * base);
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
