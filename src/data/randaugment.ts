// RandAugment as CSG's reference applies it to VisDA-17 (NVlabs/CSG utils/augmentations.py, the
// pytorch-randaugment variant; recipe §5): N ops drawn with replacement from 14, each at value
// v = M/30 · (hi − lo) + lo of its range, on the uint8 RGB image before resizing, with PIL's semantics:
//   Identity; AutoContrast and Equalize (applied with probability v = M/30); Rotate ±30·M/30 degrees
//   (PIL rotate: about the centre, nearest, black fill); Posterize to 8 − int(7·M/30) bits; Solarize at
//   threshold 256 − 256·M/30; Color, Contrast, Brightness, Sharpness by factor 1 ± 0.9·M/30 (PIL
//   ImageEnhance: blend with grey, mean grey, black, the SMOOTH-filtered image); ShearX/Y ±0.3·M/30 (PIL
//   affine about the top-left corner); TranslateX/Y ±100·M/30 pixels (absolute). Signed ops negate with
//   probability 1/2. Fill is black.
// Where this differs from torchvision's RandAugment (0.15): torchvision always applies AutoContrast and
// Equalize, solarizes at 255 − 255·M/30 (≥ 204, not ≥ 205, at M = 6), shears about the centre by
// atan(v) degrees and translates by 150/331 of the image side · M/30. We follow the reference.
// Numerics follow Pillow 9.4's C code, so that kernels-test/fixtures/make_randaugment.py's PIL outputs
// are matched exactly: float32 blends and filter sums truncated like PIL, 16.16 fixed-point affine
// sampling, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
// Interface: drawRandAugment(rng, n) → OpDraw[] (draws in a fixed order, whatever the ops);
// randAugment(img, draws, m, translateMax?) → a new image; applyOp(img, op, value) for one op.
import { DataError } from './png.js';
import type { Rng } from './rng.js';

/** An HWC uint8 RGB image. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type RandAugmentOp =
  | 'Identity' | 'AutoContrast' | 'Equalize' | 'Rotate' | 'Posterize' | 'Solarize' | 'Color' | 'Contrast' | 'Brightness'
  | 'Sharpness' | 'ShearX' | 'ShearY' | 'TranslateX' | 'TranslateY';

/** The reference's list, in its order: op and value range [lo, hi] over M = 0..30. */
export const RANDAUGMENT_OPS: readonly (readonly [RandAugmentOp, number, number])[] = [
  ['Identity', 0, 1], ['AutoContrast', 0, 1], ['Equalize', 0, 1], ['Rotate', 0, 30], ['Posterize', 0, 7], ['Solarize', 0, 256],
  ['Color', 0, 0.9], ['Contrast', 0, 0.9], ['Brightness', 0, 0.9], ['Sharpness', 0, 0.9], ['ShearX', 0, 0.3], ['ShearY', 0, 0.3],
  ['TranslateX', 0, 100], ['TranslateY', 0, 100],
];

const SIGNED = new Set<RandAugmentOp>(['Rotate', 'Color', 'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY']);

/** One drawn op: which (index into RANDAUGMENT_OPS) and the uniform draw that decides its sign
 *  (negative when > 0.5) or, for AutoContrast and Equalize, whether it applies (when ≤ v). */
export interface OpDraw {
  op: number;
  draw: number;
}

/** N ops with replacement; two draws per op whatever it is, so the stream never depends on the ops. */
export function drawRandAugment(rng: Rng, n: number): OpDraw[] {
  return Array.from({ length: n }, () => ({ op: rng.int(RANDAUGMENT_OPS.length), draw: rng.next() }));
}

/** The value of op `index` at magnitude m (0–30), signed by its draw; null when the op is skipped.
 *  `translateMax` replaces the translation range's 100 px (for images much smaller than VisDA's). */
export function opValue(d: OpDraw, m: number, translateMax = 100): number | null {
  const [op, lo, range] = RANDAUGMENT_OPS[d.op];
  const hi = op === 'TranslateX' || op === 'TranslateY' ? translateMax : range;
  const v = (m / 30) * (hi - lo) + lo;
  if (op === 'AutoContrast' || op === 'Equalize') return d.draw <= v ? v : null;
  return SIGNED.has(op) && d.draw > 0.5 ? -v : v;
}

/** Applies the drawn ops in order at magnitude m. */
export function randAugment(img: RgbImage, draws: OpDraw[], m: number, translateMax = 100): RgbImage {
  if (!(m >= 0 && m <= 30)) throw new DataError(`RandAugment magnitude ${m} must be in 0..30`);
  let out = img;
  for (const d of draws) {
    const value = opValue(d, m, translateMax);
    if (value !== null) out = applyOp(out, RANDAUGMENT_OPS[d.op][0], value);
  }
  return out;
}

/** One op with its (signed) value, as the reference's op function receives it after the sign draw. */
export function applyOp(img: RgbImage, op: RandAugmentOp, value: number): RgbImage {
  switch (op) {
    case 'Identity': return img;
    case 'AutoContrast': return perChannelLut(img, autoContrastLut);
    case 'Equalize': return perChannelLut(img, equalizeLut);
    case 'Rotate': return rotate(img, value);
    case 'Posterize': {
      const mask = ~(2 ** (8 - Math.max(1, 8 - Math.trunc(value))) - 1);
      return lut(img, (i) => i & mask);
    }
    case 'Solarize': return lut(img, (i) => (i < 256 - value ? i : 255 - i));
    case 'Color': return blend(grey(img), img, 1 + value);
    case 'Contrast': return blend(meanGrey(img), img, 1 + value);
    case 'Brightness': return blend({ ...img, data: new Uint8Array(img.data.length) }, img, 1 + value);
    case 'Sharpness': return blend(smooth(img), img, 1 + value);
    case 'ShearX': return affine(img, [1, value, 0, 0, 1, 0]);
    case 'ShearY': return affine(img, [1, 0, 0, value, 1, 0]);
    case 'TranslateX': return affine(img, [1, 0, value, 0, 1, 0]);
    case 'TranslateY': return affine(img, [1, 0, 0, 0, 1, value]);
  }
}

const withData = (img: RgbImage, data: Uint8Array): RgbImage => ({ width: img.width, height: img.height, data });

function lut(img: RgbImage, f: (i: number) => number): RgbImage {
  const table = Uint8Array.from({ length: 256 }, (_, i) => f(i));
  return withData(img, img.data.map((v) => table[v]));
}

/** A table per channel, each made from that channel's histogram. */
function perChannelLut(img: RgbImage, make: (hist: number[]) => number[]): RgbImage {
  const tables = [0, 1, 2].map((c) => {
    const hist = new Array(256).fill(0);
    for (let i = c; i < img.data.length; i += 3) hist[img.data[i]]++;
    return make(hist);
  });
  return withData(img, img.data.map((v, i) => tables[i % 3][v]));
}

/** PIL ImageOps.autocontrast (cutoff 0): the channel's range stretched to 0–255, truncated. */
function autoContrastLut(hist: number[]): number[] {
  const lo = hist.findIndex((n) => n > 0);
  let hi = 255;
  while (hi > 0 && hist[hi] === 0) hi--;
  if (hi <= lo) return hist.map((_, i) => i);
  const scale = 255 / (hi - lo);
  const offset = -lo * scale;
  return hist.map((_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
}

/** PIL ImageOps.equalize: the cumulative histogram in steps of (total − last non-empty bin) // 255. */
function equalizeLut(hist: number[]): number[] {
  const nonEmpty = hist.filter((n) => n > 0);
  const identity = hist.map((_, i) => i);
  if (nonEmpty.length <= 1) return identity;
  const step = Math.floor((nonEmpty.reduce((a, b) => a + b, 0) - nonEmpty[nonEmpty.length - 1]) / 255);
  if (step === 0) return identity;
  let n = Math.floor(step / 2);
  return hist.map((count) => {
    const v = Math.floor(n / step);
    n += count;
    return Math.min(255, v);
  });
}

/** PIL's RGB → L (Convert.c, rounded 16-bit fixed point). */
const lumaL = (r: number, g: number, b: number) => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;

/** convert('L').convert('RGB'). */
function grey(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let p = 0; p < out.length; p += 3) out.fill(lumaL(img.data[p], img.data[p + 1], img.data[p + 2]), p, p + 3);
  return withData(img, out);
}

/** ImageEnhance.Contrast's degenerate image: the mean of L, rounded, everywhere. */
function meanGrey(img: RgbImage): RgbImage {
  let sum = 0;
  for (let p = 0; p < img.data.length; p += 3) sum += lumaL(img.data[p], img.data[p + 1], img.data[p + 2]);
  return withData(img, new Uint8Array(img.data.length).fill(Math.trunc(sum / (img.data.length / 3) + 0.5)));
}

/** PIL Image.blend(a, b, alpha) = a + alpha·(b − a) in float32, truncated; clamped when extrapolating. */
function blend(a: RgbImage, b: RgbImage, alpha: number): RgbImage {
  const f = Math.fround(alpha);
  const interpolate = f >= 0 && f <= 1;
  const out = new Uint8Array(b.data.length);
  for (let i = 0; i < out.length; i++) {
    const t = Math.fround(a.data[i] + Math.fround(f * (b.data[i] - a.data[i])));
    out[i] = interpolate ? Math.trunc(t) : t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
  }
  return withData(b, out);
}

const K_EDGE = Math.fround(1 / 13);
const K_CENTRE = Math.fround(5 / 13);

/** PIL's ImageFilter.SMOOTH (3×3, 1 1 1 / 1 5 1 / 1 1 1, ÷13): float32 sums row by row plus 0.5,
 *  truncated; the border pixels are copied. */
function smooth(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = Uint8Array.from(data);
  if (w < 3 || h < 3) return withData(img, out);
  const f = Math.fround;
  const row = (y: number, x: number, c: number, mid: number) => {
    const i = (y * w + x) * 3 + c;
    return f(f(f(data[i - 3] * K_EDGE) + f(data[i] * mid)) + f(data[i + 3] * K_EDGE));
  };
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        let ss = f(0.5);
        ss = f(ss + row(y + 1, x, c, K_EDGE));
        ss = f(ss + row(y, x, c, K_CENTRE));
        ss = f(ss + row(y - 1, x, c, K_EDGE));
        out[(y * w + x) * 3 + c] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
    }
  }
  return withData(img, out);
}

/** Python's round(x, 15) for the rotation matrix (ties cannot occur for these values). */
const round15 = (x: number) => Number(x.toFixed(15));

/** PIL Image.rotate(degrees) (counter-clockwise about the centre, same size, nearest, black fill). */
function rotate(img: RgbImage, degrees: number): RgbImage {
  const angle = ((degrees % 360) + 360) % 360;
  if (angle === 0) return withData(img, Uint8Array.from(img.data));
  const rad = -(angle * (Math.PI / 180));
  const [cx, cy] = [img.width / 2, img.height / 2];
  const m = [round15(Math.cos(rad)), round15(Math.sin(rad)), 0, round15(-Math.sin(rad)), round15(Math.cos(rad)), 0];
  const [c, f] = [m[0] * -cx + m[1] * -cy + m[2], m[3] * -cx + m[4] * -cy + m[5]];
  return affine(img, [m[0], m[1], c + cx, m[3], m[4], f + cy]);
}

/** PIL Image.transform(size, AFFINE, a, NEAREST): output pixel (x, y) takes the input pixel at
 *  (a0·x + a1·y + a2, a3·x + a4·y + a5) for pixel centres, black outside. PIL samples pure scales and
 *  translations in double precision and everything else in 16.16 fixed point; both are reproduced. */
function affine(img: RgbImage, a: number[]): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  const copy = (x: number, y: number, xin: number, yin: number) => {
    if (xin >= 0 && xin < w && yin >= 0 && yin < h) out.set(data.subarray((yin * w + xin) * 3, (yin * w + xin) * 3 + 3), (y * w + x) * 3);
  };
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));
  if (a[1] === 0 && a[3] === 0) {
    let yo = a[5] + a[4] * 0.5;
    for (let y = 0; y < h; y++, yo += a[4]) {
      let xo = a[2] + a[0] * 0.5;
      for (let x = 0; x < w; x++, xo += a[0]) copy(x, y, coord(xo), coord(yo));
    }
    return withData(img, out);
  }
  const fits = [[0, 0], [w, h], [0, h], [w, 0]].every(([x, y]) => Math.abs(x * a[0] + y * a[1] + a[2]) < 32768 && Math.abs(x * a[3] + y * a[4] + a[5]) < 32768);
  if (!fits) throw new DataError(`RandAugment: a ${w}x${h} image is too large for PIL's fixed-point affine sampling (32768 pixels)`);
  const fix = (v: number) => Math.floor(v * 65536 + 0.5);
  const [a0, a1, a3, a4] = [fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4])];
  let rowX = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
  let rowY = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (let y = 0; y < h; y++, rowX += a1, rowY += a4) {
    for (let x = 0, xx = rowX, yy = rowY; x < w; x++, xx += a0, yy += a3) copy(x, y, xx >> 16, yy >> 16);
  }
  return withData(img, out);
}
