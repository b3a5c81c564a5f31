import { CAFFE_NORM, colorJitter, drawAugment, drawJitter, IMAGENET_NORM, makeBatch, normalizeImage, type AugmentOptions, type JitterDraw, type LabelledImage, type Normalization } from '../src/data/augment.js';
import { resize, resizeNearest } from '../src/data/image.js';
import { Rng } from '../src/data/rng.js';
import { expectClose } from './helpers.js';

const NO_JITTER = { brightness: 0, contrast: 0, saturation: 0, hue: 0 };
/** Identity normalisation (v in 0..255 kept), so outputs read back as source bytes. */
const RAW: Normalization = { mean: [0, 0, 0], std: [1, 1, 1], bgr: false, scale255: true };

/** W×H image with r = x·8, g = y·8, b = 77; label (x + 3y) mod 19. */
function codedSample(w: number, h: number): LabelledImage {
  const image = new Uint8Array(w * h * 3);
  const label = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      image.set([x * 8, y * 8, 77], (y * w + x) * 3);
      label[y * w + x] = (x + 3 * y) % 19;
    }
  }
  return { width: w, height: h, image, label };
}

const chw = (a: Float32Array, n: number, c: number, y: number, x: number, h: number, w: number) => a[((n * 3 + c) * h + y) * w + x];

describe('augmentation geometry', () => {
  test('flip and crop positions line up between image, label and key image (scale 1)', () => {
    const src = codedSample(20, 14);
    const opts: AugmentOptions = { crop: [6, 9], scale: [1, 1], jitter: NO_JITTER };
    let flips = 0;
    for (let seed = 0; seed < 12; seed++) {
      const d = drawAugment(new Rng(seed), 20, 14, opts);
      const b = makeBatch([src], new Rng(seed), opts, RAW, true);
      flips += d.flip ? 1 : 0;
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 9; x++) {
          const sy = y + d.cropY;
          const sx = d.flip ? 20 - 1 - (x + d.cropX) : x + d.cropX;
          expect([seed, y, x, chw(b.images, 0, 0, y, x, 6, 9), chw(b.images, 0, 1, y, x, 6, 9)]).toEqual([seed, y, x, sx * 8, sy * 8]);
          expect(b.labels[y * 9 + x]).toBe((sx + 3 * sy) % 19);
          for (let c = 0; c < 3; c++) expect(chw(b.keys!, 0, c, y, x, 6, 9)).toBeCloseTo(chw(b.images, 0, c, y, x, 6, 9), 3);
        }
      }
    }
    expect(flips).toBeGreaterThan(0);
    expect(flips).toBeLessThan(12);
  });

  test('scaling: image by the antialiased bilinear filter (linear ramps preserved), label nearest', () => {
    // Image: linear ramps r = 10x + 5, g = 8y. Label: 2×2 blocks. Scale 0.5 → one output pixel per block,
    // whose centre lies at source coordinate 2x + 0.5 (pixel centres at integer + 0.5).
    const w = 16;
    const h = 12;
    const image = new Uint8Array(w * h * 3);
    const label = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        image.set([10 * x + 5, 8 * y, 10], (y * w + x) * 3);
        label[y * w + x] = ((y >> 1) * (w / 2) + (x >> 1)) % 19;
      }
    }
    const opts: AugmentOptions = { crop: [6, 8], scale: [0.5, 0.5], flip: false, jitter: NO_JITTER };
    const b = makeBatch([{ width: w, height: h, image, label }], new Rng(3), opts, RAW, false);
    for (let y = 0; y < 6; y++) {
      for (let x = 0; x < 8; x++) {
        // The filter reaches 2 source pixels either side: away from the border it reproduces the ramp.
        if (x >= 1 && x <= 6) expect(chw(b.images, 0, 0, y, x, 6, 8)).toBeCloseTo(10 * (2 * x + 0.5) + 5, 3);
        if (y >= 1 && y <= 4) expect(chw(b.images, 0, 1, y, x, 6, 8)).toBeCloseTo(8 * (2 * y + 0.5), 3);
        expect(chw(b.images, 0, 2, y, x, 6, 8)).toBeCloseTo(10, 4);
        expect(b.labels[y * 8 + x]).toBe((y * 8 + x) % 19);
      }
    }
  });

  test('a crop larger than the scaled image is padded centred: image 0 after normalisation, label 255', () => {
    const src = codedSample(5, 3);
    const opts: AugmentOptions = { crop: [8, 10], scale: [1, 1], flip: false, jitter: NO_JITTER };
    const b = makeBatch([src], new Rng(1), opts, IMAGENET_NORM, true);
    const padTop = Math.floor((8 - 3) / 2);
    const padLeft = Math.floor((10 - 5) / 2);
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 10; x++) {
        const inside = y >= padTop && y < padTop + 3 && x >= padLeft && x < padLeft + 5;
        const label = b.labels[y * 10 + x];
        if (!inside) {
          expect(label).toBe(255);
          for (let c = 0; c < 3; c++) {
            expect(chw(b.images, 0, c, y, x, 8, 10)).toBe(0);
            expect(chw(b.keys!, 0, c, y, x, 8, 10)).toBe(0);
          }
        } else {
          const [sy, sx] = [y - padTop, x - padLeft];
          expect(label).toBe((sx + 3 * sy) % 19);
          expect(chw(b.images, 0, 0, y, x, 8, 10)).toBeCloseTo((sx * 8) / 255 / 0.229 - 0.485 / 0.229, 4);
        }
      }
    }
  });

  test('one side padded, the other cropped at random', () => {
    const src = codedSample(30, 4);
    const opts: AugmentOptions = { crop: [6, 7], scale: [1, 1], flip: false, jitter: NO_JITTER };
    const d = drawAugment(new Rng(5), 30, 4, opts);
    expect(d.cropY).toBe(0);
    const b = makeBatch([src], new Rng(5), opts, RAW, false);
    expect(Array.from(b.labels.subarray(0, 7))).toEqual(new Array(7).fill(255));
    expect(b.labels[1 * 7 + 0]).toBe((d.cropX + 0) % 19);
    expect(Array.from(b.labels.subarray(5 * 7))).toEqual(new Array(7).fill(255));
  });

  test('the key image is jittered but stays pixel-aligned with the query image', () => {
    // A random pattern of 4×4 black/white cells: every ColorJitter op keeps white brighter than black.
    const w = 24;
    const h = 16;
    const r = new Rng(11);
    const cells = Array.from({ length: (w / 4) * (h / 4) }, () => (r.bool() ? 1 : 0));
    const label = Uint8Array.from({ length: w * h }, (_, p) => cells[Math.floor(p / w / 4) * (w / 4) + Math.floor((p % w) / 4)]);
    const image = new Uint8Array(w * h * 3);
    label.forEach((v, p) => image.set(v ? [230, 220, 210] : [20, 30, 25], p * 3));
    const opts: AugmentOptions = { crop: [10, 12], scale: [0.75, 1.25] };
    const lum = (a: Float32Array, y: number, x: number) => [0.2989, 0.587, 0.114].reduce((acc, wt, c) => acc + wt * chw(a, 0, c, y, x, 10, 12), 0);
    for (let seed = 0; seed < 6; seed++) {
      const b = makeBatch([{ width: w, height: h, image, label }], new Rng(seed), opts, RAW, true);
      // Where the query shows pure white (away from blended edges), the key must be brighter than
      // wherever the query shows pure black: a shifted key would put black under white somewhere.
      const white: number[] = [];
      const black: number[] = [];
      let changed = 0;
      for (let y = 0; y < 10; y++) {
        for (let x = 0; x < 12; x++) {
          const q = lum(b.images, y, x);
          if (q > 215) white.push(lum(b.keys!, y, x));
          if (q < 30 && b.labels[y * 12 + x] === 0) black.push(lum(b.keys!, y, x));
          changed = Math.max(changed, Math.abs(lum(b.keys!, y, x) - q));
        }
      }
      expect(white.length).toBeGreaterThan(5);
      expect(black.length).toBeGreaterThan(5);
      expect(Math.min(...white)).toBeGreaterThan(Math.max(...black));
      expect(changed).toBeGreaterThan(1);
    }
  });
});

describe('draws', () => {
  test('identical with and without the key image, and the generator ends in the same state', () => {
    const src = [codedSample(20, 14), codedSample(16, 18)];
    const opts: AugmentOptions = { crop: [12, 12] };
    const ra = new Rng(42);
    const rb = new Rng(42);
    const a = makeBatch(src, ra, opts, IMAGENET_NORM, false);
    const b = makeBatch(src, rb, opts, IMAGENET_NORM, true);
    expect(a.keys).toBeUndefined();
    expect(b.images).toEqual(a.images);
    expect(b.labels).toEqual(a.labels);
    expect(ra.next()).toBe(rb.next());
    const c = makeBatch(src, new Rng(43), opts, IMAGENET_NORM, true);
    expect(c.images).not.toEqual(a.images);
    expect(makeBatch(src, new Rng(42), opts, IMAGENET_NORM, true).keys).toEqual(b.keys);
  });

  test('scale in [0.75, 1.25], flip about half the time, ColorJitter factors in torchvision ranges', () => {
    const rng = new Rng(7);
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const d = drawAugment(rng, 100, 50, { crop: [32, 32] });
      expect(d.scale).toBeGreaterThanOrEqual(0.75);
      expect(d.scale).toBeLessThan(1.25);
      expect(d.scaledW).toBe(Math.round(100 * d.scale));
      expect(d.cropX).toBeLessThanOrEqual(d.scaledW - 32);
      expect(d.cropY).toBeLessThanOrEqual(Math.max(0, d.scaledH - 32));
      flips += d.flip ? 1 : 0;
      const j = d.jitter;
      expect([...j.order].sort()).toEqual([0, 1, 2, 3]);
      for (const f of [j.brightness, j.contrast, j.saturation]) {
        expect(f).toBeGreaterThanOrEqual(0.6);
        expect(f).toBeLessThanOrEqual(1.4);
      }
      expect(Math.abs(j.hue)).toBeLessThanOrEqual(0.4);
    }
    expect(flips).toBeGreaterThan(160);
    expect(flips).toBeLessThan(240);
    const strong = drawJitter(new Rng(1), { brightness: 1.5, contrast: 0, saturation: 0, hue: 0 });
    expect(strong.brightness).toBeGreaterThanOrEqual(0);
    expect(strong.brightness).toBeLessThanOrEqual(2.5);
    expect(strong.contrast).toBe(1);
  });
});

describe('ColorJitter ops (torchvision semantics)', () => {
  const base = (): JitterDraw => ({ order: [0, 1, 2, 3], brightness: 1, contrast: 1, saturation: 1, hue: 0 });
  const px = () => Float32Array.from([0.2, 0.5, 0.9, 0.6, 0.6, 0.6, 1, 0, 0, 0.1, 0.3, 0.2]);
  const lum = (a: Float32Array, p: number) => 0.2989 * a[3 * p] + 0.587 * a[3 * p + 1] + 0.114 * a[3 * p + 2];

  test('identity factors change nothing', () => {
    const img = px();
    colorJitter(img, base());
    expectClose(img, px(), { atol: 1e-6 });
  });

  test('brightness scales and clamps', () => {
    const img = px();
    colorJitter(img, { ...base(), brightness: 1.3 });
    expectClose(img, Array.from(px(), (v) => Math.min(1, v * 1.3)), { atol: 1e-6 });
  });

  test('contrast blends with the mean grey of the whole image', () => {
    const img = px();
    const ref = px();
    const mean = [0, 1, 2, 3].reduce((a, p) => a + lum(ref, p), 0) / 4;
    colorJitter(img, { ...base(), contrast: 0.7 });
    expectClose(img, Array.from(ref, (v) => Math.min(1, Math.max(0, 0.7 * v + 0.3 * mean))), { atol: 1e-6 });
  });

  test('saturation blends each pixel with its own grey; grey pixels stay', () => {
    const img = px();
    const ref = px();
    colorJitter(img, { ...base(), saturation: 1.4 });
    for (let p = 0; p < 4; p++) {
      const g = lum(ref, p);
      for (let c = 0; c < 3; c++) expect(img[3 * p + c]).toBeCloseTo(Math.min(1, Math.max(0, 1.4 * ref[3 * p + c] - 0.4 * g)), 5);
    }
    expectClose(img.subarray(3, 6), [0.6, 0.6, 0.6], { atol: 1e-6 });
  });

  test('hue rotates through HSV: red +1/3 → green, and back', () => {
    const img = px();
    colorJitter(img, { ...base(), hue: 1 / 3 });
    expectClose(img.subarray(6, 9), [0, 1, 0], { atol: 1e-5 });
    expectClose(img.subarray(3, 6), [0.6, 0.6, 0.6], { atol: 1e-6 });
    colorJitter(img, { ...base(), hue: -1 / 3 });
    expectClose(img, px(), { atol: 1e-5 });
  });

  test('the order matters and is followed', () => {
    const a = px();
    const b = px();
    colorJitter(a, { ...base(), order: [0, 1, 2, 3], brightness: 1.4, contrast: 0.6 });
    colorJitter(b, { ...base(), order: [1, 0, 2, 3], brightness: 1.4, contrast: 0.6 });
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});

describe('normalisation', () => {
  const image = Uint8Array.from([255, 128, 0, 10, 20, 30]);
  test('ImageNet: RGB/255, mean and std', () => {
    const out = normalizeImage(image, 2, 1, IMAGENET_NORM);
    const expected = [0, 1, 2].flatMap((c) => [0, 1].map((p) => (image[3 * p + c] / 255 - IMAGENET_NORM.mean[c]) / IMAGENET_NORM.std[c]));
    expectClose(out, expected, { atol: 1e-5 });
  });
  test('Caffe: BGR, 0–255, mean subtracted', () => {
    const out = normalizeImage(image, 2, 1, CAFFE_NORM);
    expectClose(out, [0 - 103.939, 30 - 103.939, 128 - 116.779, 20 - 116.779, 255 - 123.68, 10 - 123.68], { atol: 1e-3 });
  });
});

describe('windowed resampling (only what the crop sees)', () => {
  const random = (n: number, seed: number) => {
    const r = new Rng(seed);
    return Float32Array.from({ length: n }, () => r.next());
  };

  test('a window of the resize equals the same window of the full resize', () => {
    const [w, h] = [23, 17];
    const src = random(w * h * 3, 1);
    for (const [outW, outH] of [[17, 13], [29, 21], [12, 8]]) {
      const full = resize(src, w, h, 3, outW, outH);
      const win = { x: 3, y: 2, width: outW - 5, height: outH - 4 };
      const part = resize(src, w, h, 3, outW, outH, win);
      const expected: number[] = [];
      for (let y = win.y; y < win.y + win.height; y++) expected.push(...full.subarray((y * outW + win.x) * 3, (y * outW + win.x + win.width) * 3));
      expectClose(part, expected, { atol: 1e-6 });
    }
  });

  test('flip, scale, crop: equal to flipping the whole image, scaling it whole and cropping', () => {
    const [w, h] = [31, 22];
    const src = codedSample(w, h);
    const rnd = new Rng(4);
    src.image.forEach((_, i) => (src.image[i] = rnd.int(256)));
    const opts: AugmentOptions = { crop: [16, 20], scale: [0.75, 1.25], jitter: NO_JITTER };
    for (let seed = 0; seed < 8; seed++) {
      const d = drawAugment(new Rng(seed), w, h, opts);
      const b = makeBatch([src], new Rng(seed), opts, RAW, false);
      // Reference: the definition, on whole images.
      const flippedImage = new Float32Array(w * h * 3);
      const flippedLabel = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = d.flip ? w - 1 - x : x;
          for (let c = 0; c < 3; c++) flippedImage[(y * w + x) * 3 + c] = src.image[(y * w + sx) * 3 + c] / 255;
          flippedLabel[y * w + x] = src.label[y * w + sx];
        }
      }
      const scaled = resize(flippedImage, w, h, 3, d.scaledW, d.scaledH);
      const scaledLabel = resizeNearest(flippedLabel, w, h, d.scaledW, d.scaledH);
      const padTop = Math.floor(Math.max(0, 16 - d.scaledH) / 2);
      const padLeft = Math.floor(Math.max(0, 20 - d.scaledW) / 2);
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 20; x++) {
          const sy = y + d.cropY - padTop;
          const sx = x + d.cropX - padLeft;
          const inside = sy >= 0 && sy < d.scaledH && sx >= 0 && sx < d.scaledW;
          expect(b.labels[y * 20 + x]).toBe(inside ? scaledLabel[sy * d.scaledW + sx] : 255);
          for (let c = 0; c < 3; c++) {
            const want = inside ? scaled[(sy * d.scaledW + sx) * 3 + c] * 255 : 0;
            expect(Math.abs(chw(b.images, 0, c, y, x, 16, 20) - want)).toBeLessThan(1e-3);
          }
        }
      }
    }
  });

  test('ColorJitter of a crop with the whole image as contrast reference equals the crop of the jittered whole', () => {
    const [w, h] = [12, 9];
    const whole = random(w * h * 3, 8);
    const j: JitterDraw = { order: [3, 0, 2, 1], brightness: 1.2, contrast: 0.7, saturation: 1.3, hue: 0.2 };
    const jitteredWhole = whole.slice();
    colorJitter(jitteredWhole, j);
    const crop = new Float32Array(4 * 5 * 3);
    const expected = new Float32Array(4 * 5 * 3);
    for (let y = 0; y < 4; y++) {
      crop.set(whole.subarray(((y + 2) * w + 3) * 3, ((y + 2) * w + 8) * 3), y * 15);
      expected.set(jitteredWhole.subarray(((y + 2) * w + 3) * 3, ((y + 2) * w + 8) * 3), y * 15);
    }
    const reference = whole.slice();
    colorJitter(crop, j, reference);
    expectClose(crop, expected, { atol: 1e-5 });
    expect(reference).toEqual(whole);
  });
});
