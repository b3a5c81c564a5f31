// Classification views (recipe §5, the reference's train.py transforms), on CPU arrays:
//   training:   RandAugment(N, M) on the uint8 image (randaugment.ts) → Resize(resize) (the shorter side
//               to `resize`, the longer int(resize·long/short), PIL's antialiased bilinear) →
//               RandomCrop(crop) (top, then left, uniform) → normalisation. CSG's q and k are two
//               independent draws of this view of the same image.
//   evaluation: Resize(resize) → CenterCrop(crop) (offsets round((size − crop)/2), half to even as
//               Python rounds) → normalisation, and the same crop mirrored (for the flip-averaged score).
// Resizing runs in float on [0, 1] values over the crop window only; PIL rounds to uint8 after each
// pass, so values differ from torchvision-on-PIL by at most 1/255 before normalisation (tested).
// Interface: drawView(rng, width, height, opts) → ViewDraw; trainViewInto / evalViewInto write
// normalised CHW crops into a batch buffer at a given offset.
import type { Normalization } from './augment.js';
import { resize, toFloat, type Window } from './image.js';
import { DataError } from './png.js';
import { drawRandAugment, randAugment, type OpDraw } from './randaugment.js';
import type { Rng } from './rng.js';

/** One image of a classification data set: HWC uint8 RGB and its class. */
export interface ClsImage {
  width: number;
  height: number;
  image: Uint8Array;
  label: number;
}

export interface ViewOptions {
  /** The shorter side after resizing (the recipe: 224). */
  resize: number;
  /** The square crop's side (the recipe: 224); at most `resize`. */
  crop: number;
  /** RandAugment's N and M (the recipe: 1 and 6) for training views; null: none. `translateMax`
   *  replaces the translation range's 100 px at M = 30 (for images much smaller than VisDA's). */
  randAugment: { n: number; m: number; translateMax?: number } | null;
}

export const RECIPE_VIEW: ViewOptions = { resize: 224, crop: 224, randAugment: { n: 1, m: 6 } };

/** The random choices of one training view. */
export interface ViewDraw {
  ops: OpDraw[];
  /** Crop offsets in the resized image. */
  cropY: number;
  cropX: number;
}

export function checkViewOptions(opts: ViewOptions): void {
  const { resize: r, crop, randAugment: ra } = opts;
  if (!Number.isInteger(r) || !Number.isInteger(crop) || crop < 1 || crop > r) throw new DataError(`views: crop ${crop} and resize ${r} must be integers with 1 <= crop <= resize`);
  if (ra && (!Number.isInteger(ra.n) || ra.n < 0 || !(ra.m >= 0 && ra.m <= 30))) throw new DataError(`views: RandAugment N ${ra.n} must be a non-negative integer and M ${ra.m} in 0..30`);
}

/** torchvision Resize(size) with an int: the shorter side becomes `size`, the longer int(size·long/short). */
export function resizedSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc((size * height) / width)];
  return [Math.trunc((size * width) / height), size];
}

/** A training view's draws: RandAugment's ops, then the crop's top and left. The image's size fixes the
 *  crop's range; nothing else depends on the image, so the stream is the same for every method. */
export function drawView(rng: Rng, width: number, height: number, opts: ViewOptions): ViewDraw {
  const ops = drawRandAugment(rng, opts.randAugment?.n ?? 0);
  const [w, h] = resizedSize(width, height, opts.resize);
  const cropY = rng.int(h - opts.crop + 1);
  const cropX = rng.int(w - opts.crop + 1);
  return { ops, cropY, cropX };
}

/** Python's round() of a half-integer or integer: half to even. */
const roundHalfEven = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));

/** Resizes `img` so its shorter side is `size` and returns the window `win` of the result, HWC in [0, 1]. */
function resizedWindow(img: { width: number; height: number; data: Uint8Array }, size: number, win: Window): Float32Array {
  const [w, h] = resizedSize(img.width, img.height, size);
  return resize(toFloat(img.data), img.width, img.height, 3, w, h, win);
}

/** Writes an HWC [0, 1] square of side `side` normalised into CHW at `base` (output channel c from
 *  source channel 2 − c when BGR), mirrored when asked. */
function placeView(part: Float32Array, side: number, norm: Normalization, out: Float32Array, base: number, mirror: boolean): void {
  const plane = side * side;
  const k = norm.scale255 ? 255 : 1;
  for (let c = 0; c < 3; c++) {
    const [src, mean, std] = [norm.bgr ? 2 - c : c, norm.mean[c], norm.std[c]];
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) out[base + c * plane + y * side + x] = (part[(y * side + (mirror ? side - 1 - x : x)) * 3 + src] * k - mean) / std;
    }
  }
}

/** The training view of `s` with draw `d`, normalised, into `out` at `base` (3·crop² values). */
export function trainViewInto(s: ClsImage, d: ViewDraw, opts: ViewOptions, norm: Normalization, out: Float32Array, base: number): void {
  const ra = opts.randAugment;
  const augmented = ra ? randAugment({ width: s.width, height: s.height, data: s.image }, d.ops, ra.m, ra.translateMax) : { width: s.width, height: s.height, data: s.image };
  const part = resizedWindow(augmented, opts.resize, { x: d.cropX, y: d.cropY, width: opts.crop, height: opts.crop });
  placeView(part, opts.crop, norm, out, base, false);
}

/** The evaluation view (centre crop) into `out` at `base`, and its mirror image into `mirrored`. */
export function evalViewInto(s: ClsImage, opts: ViewOptions, norm: Normalization, out: Float32Array, mirrored: Float32Array, base: number): void {
  const [w, h] = resizedSize(s.width, s.height, opts.resize);
  const win = { x: roundHalfEven((w - opts.crop) / 2), y: roundHalfEven((h - opts.crop) / 2), width: opts.crop, height: opts.crop };
  const part = resizedWindow({ width: s.width, height: s.height, data: s.image }, opts.resize, win);
  placeView(part, opts.crop, norm, out, base, false);
  placeView(part, opts.crop, norm, mirrored, base, true);
}
