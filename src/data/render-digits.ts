// Rendering of the embedded digits tasks' images (see digits.ts, digits-cls.ts): a synthetic sample
// from stroke glyphs on a procedural background, a real one from an MNIST digit on a photograph. Pure
// functions of an Rng, with no file access, so that the web page renders training batches too.
import { GLYPH_STYLES, strokeDistance2, type Pen } from './glyphs.js';
import { luma, resize, toFloat } from './image.js';
import type { Photo } from './photos.js';
import type { Rng } from './rng.js';

export interface Mnist {
  count: number;
  images: Uint8Array; // [count, 28, 28]
  labels: Uint8Array;
}

type Rgb = [number, number, number];
export function digitsClassNames(classes: 2 | 11): string[] {
  return classes === 2 ? ['background', 'stroke'] : ['background', ...Array.from({ length: 10 }, (_, d) => `digit ${d}`)];
}

export function digitsPalette(classes: 2 | 11): [number, number, number][] {
  if (classes === 2) return [[40, 40, 40], [255, 200, 40]];
  const p: [number, number, number][] = [[40, 40, 40]];
  for (let d = 0; d < 10; d++) {
    const h = d / 10;
    const f = (n: number) => {
      const k = (n + h * 6) % 6;
      return Math.round(255 * (1 - 0.75 * Math.max(0, Math.min(k, 4 - k, 1))));
    };
    p.push([f(5), f(3), f(1)]);
  }
  return p;
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const randomColour = (rng: Rng): Rgb => [rng.next(), rng.next(), rng.next()];

/** A colour whose luma differs from `bgLuma` by at least 0.3 (black or white when none is found). */
export function contrastingColour(rng: Rng, bgLuma: number): Rgb {
  for (let i = 0; i < 20; i++) {
    const c = randomColour(rng);
    if (Math.abs(luma(c[0], c[1], c[2]) - bgLuma) >= 0.3) return c;
  }
  return bgLuma > 0.5 ? [0, 0, 0] : [1, 1, 1];
}

export function proceduralBackground(rng: Rng, size: number): Float32Array {
  const img = new Float32Array(size * size * 3);
  const a = randomColour(rng);
  const b = randomColour(rng);
  const kind = rng.int(4);
  const angle = rng.uniform(0, Math.PI);
  const period = rng.uniform(6, 20);
  const grid = 2 + rng.int(6);
  const noise = new Float32Array(grid * grid);
  for (let i = 0; i < noise.length; i++) noise[i] = rng.next();
  const smooth = kind === 3 ? resize(noise, grid, grid, 1, size, size) : null;
  const [ux, uy] = [Math.cos(angle), Math.sin(angle)];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = ((x - size / 2) * ux + (y - size / 2) * uy) / size + 0.5;
      let t: number;
      if (kind === 0) t = 0;
      else if (kind === 1) t = clamp01(u);
      else if (kind === 2) t = 0.5 + 0.5 * Math.sin((2 * Math.PI * u * size) / period);
      else t = smooth![y * size + x];
      for (let c = 0; c < 3; c++) img[(y * size + x) * 3 + c] = a[c] + (b[c] - a[c]) * t;
    }
  }
  return img;
}

export function meanLuma(img: Float32Array): number {
  let s = 0;
  for (let p = 0; p < img.length / 3; p++) s += luma(img[3 * p], img[3 * p + 1], img[3 * p + 2]);
  return s / (img.length / 3);
}

/** Where a digit goes: centre and height in pixels. */
export interface Spot {
  cx: number;
  cy: number;
  height: number;
}

/** Where 1–2 digits go: centre, height (fraction of the image side kept by both domains). */
function layout(rng: Rng, size: number): Spot[] {
  if (rng.bool(0.5)) return [{ cx: size * rng.uniform(0.38, 0.62), cy: size * rng.uniform(0.4, 0.6), height: size * rng.uniform(0.5, 0.8) }];
  const h = size * rng.uniform(0.45, 0.6);
  const cy = size * rng.uniform(0.4, 0.6);
  return [
    { cx: size * rng.uniform(0.25, 0.33), cy: cy + size * rng.uniform(-0.05, 0.05), height: h },
    { cx: size * rng.uniform(0.67, 0.75), cy: cy + size * rng.uniform(-0.05, 0.05), height: h },
  ];
}

/** Paints `colour` with per-pixel alpha `opacity · coverage`; labels pixels with coverage > 0.5 (when given). */
export function paint(img: Float32Array, label: Uint8Array | null, coverage: Float32Array, colour: Rgb, opacity: number, cls: number): void {
  for (let p = 0; p < coverage.length; p++) {
    const a = coverage[p];
    if (a <= 0) continue;
    for (let c = 0; c < 3; c++) img[3 * p + c] += (colour[c] - img[3 * p + c]) * a * opacity;
    if (label && a > 0.5) label[p] = cls;
  }
}

export function renderSynthetic(rng: Rng, size: number, classes: number, img: Float32Array, label: Uint8Array): void {
  img.set(proceduralBackground(rng, size));
  const colour = contrastingColour(rng, meanLuma(img));
  for (const spot of layout(rng, size)) {
    const digit = rng.int(10);
    paint(img, label, glyphCoverage(rng, size, digit, spot), colour, 1, classes === 2 ? 1 : digit + 1);
  }
}

/** A stroke glyph of `digit` at `spot` with a random style, aspect 0.8–1.2, slant ±0.3, rotation ±25° and a
 *  bold pen (1/7–1/5 of the height), as pixel coverage in [0, 1]. */
export function glyphCoverage(rng: Rng, size: number, digit: number, spot: Spot): Float32Array {
  const style = rng.int(GLYPH_STYLES);
  const pen: Pen = {
    cx: spot.cx,
    cy: spot.cy,
    height: spot.height,
    aspect: rng.uniform(0.8, 1.2),
    slant: rng.uniform(-0.3, 0.3),
    rotation: (rng.uniform(-25, 25) * Math.PI) / 180,
    width: spot.height * rng.uniform(1 / 7, 1 / 5),
  };
  const dist2 = new Float32Array(size * size).fill(Infinity);
  strokeDistance2(digit, style, pen, size, dist2);
  // Pixel coverage of the pen: 1 inside, a one-pixel linear edge.
  const reach2 = (pen.width / 2 + 0.5) ** 2;
  return dist2.map((d2) => (d2 >= reach2 ? 0 : clamp01(pen.width / 2 - Math.sqrt(d2) + 0.5)));
}

export function photoCrop(rng: Rng, photos: Photo[], size: number): Float32Array {
  const photo = rng.pick(photos);
  const side = Math.min(photo.width, photo.height, Math.round(size * rng.uniform(1, 3)));
  const x0 = rng.int(photo.width - side + 1);
  const y0 = rng.int(photo.height - side + 1);
  const crop = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) crop.set(photo.data.subarray(((y0 + y) * photo.width + x0) * 3, ((y0 + y) * photo.width + x0 + side) * 3), y * side * 3);
  return resize(toFloat(crop), side, side, 3, size, size);
}

/** An MNIST digit, dilated 3×3 (bold strokes), as coverage in [0, 1] of a 28×28 box. */
function boldMnist(mnist: Mnist, index: number): Float32Array {
  const src = mnist.images.subarray(index * 784, (index + 1) * 784);
  const out = new Float32Array(784);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      let m = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy >= 0 && yy < 28 && xx >= 0 && xx < 28 && src[yy * 28 + xx] > m) m = src[yy * 28 + xx];
        }
      }
      out[y * 28 + x] = m / 255;
    }
  }
  return out;
}

export function renderReal(rng: Rng, size: number, classes: number, photos: Photo[], mnist: Mnist, img: Float32Array, label: Uint8Array): void {
  img.set(photoCrop(rng, photos, size));
  const colour = contrastingColour(rng, meanLuma(img));
  const opacity = rng.uniform(0.7, 1);
  for (const spot of layout(rng, size)) {
    const index = rng.int(mnist.count);
    paint(img, label, mnistCoverage(mnist, index, size, spot, 0), colour, opacity, classes === 2 ? 1 : mnist.labels[index] + 1);
  }
}

/** MNIST digit `index`, dilated, scaled so the digit gets `spot.height` and turned by `rotation` radians
 *  about its box centre (bilinear), as pixel coverage in [0, 1]. Unturned, it is the scaled box pasted as is. */
export function mnistCoverage(mnist: Mnist, index: number, size: number, spot: Spot, rotation: number): Float32Array {
  // MNIST centres a ~20-pixel digit in a 28-pixel box: scale the box so the digit gets spot.height.
  const box = Math.max(2, Math.round((spot.height * 28) / 20));
  const glyph = resize(boldMnist(mnist, index), 28, 28, 1, box, box);
  const at = (x: number, y: number) => (x >= 0 && x < box && y >= 0 && y < box ? glyph[y * box + x] : 0);
  const coverage = new Float32Array(size * size);
  const left = Math.round(spot.cx - box / 2);
  const top = Math.round(spot.cy - box / 2);
  // A turned box reaches past its square: cover the corners' sweep.
  const margin = rotation === 0 ? 0 : Math.ceil(box * 0.21);
  const [cos, sin, half] = [Math.cos(rotation), Math.sin(rotation), box / 2];
  for (let y = -margin; y < box + margin; y++) {
    for (let x = -margin; x < box + margin; x++) {
      const yy = top + y;
      const xx = left + x;
      if (yy < 0 || yy >= size || xx < 0 || xx >= size) continue;
      // The source point of this pixel centre (exactly (x, y) when unturned).
      const [u, v] = [x + 0.5 - half, y + 0.5 - half];
      const sx = cos * u + sin * v + half - 0.5;
      const sy = cos * v - sin * u + half - 0.5;
      const [x0, y0] = [Math.floor(sx), Math.floor(sy)];
      const [fx, fy] = [sx - x0, sy - y0];
      const top0 = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * fx;
      const bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * fx;
      coverage[yy * size + xx] = clamp01(top0 + (bottom - top0) * fy);
    }
  }
  return coverage;
}
