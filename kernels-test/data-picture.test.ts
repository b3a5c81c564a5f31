import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Canvas, colourize, linePlot, niceTicks, sampleGrid, segmentationStrip, textWidth } from '../src/data/picture.js';
import { readRgb } from '../src/data/png.js';
import { positionImage, tempDir } from './data-fixtures.js';

const dir = tempDir('picture');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PALETTE: [number, number, number][] = [[10, 20, 30], [200, 100, 0], [0, 250, 5]];
const pixel = (c: Canvas, x: number, y: number) => Array.from(c.data.subarray((y * c.width + x) * 3, (y * c.width + x) * 3 + 3));

test('colourize: palette colours, 255 and unknown ids black', () => {
  expect(Array.from(colourize([0, 2, 255, 7], PALETTE))).toEqual([10, 20, 30, 0, 250, 5, 0, 0, 0, 0, 0, 0]);
});

test('segmentation strip: input | prediction | truth, scaled, in rows', () => {
  const w = 6;
  const h = 4;
  const rows = [0, 1].map((k) => ({
    width: w,
    height: h,
    image: positionImage(w, h, k * 100),
    prediction: Array.from({ length: w * h }, (_, i) => (i + k) % 3),
    truth: Array.from({ length: w * h }, (_, i) => (i % 5 === 0 ? 255 : (i * 2) % 3)),
  }));
  const scale = 3;
  const c = segmentationStrip(rows, PALETTE, scale);
  const gap = 4;
  const top = 16;
  const W = w * scale;
  expect(c.width).toBe(3 * W + 4 * gap);
  expect(c.height).toBe(top + 2 * (h * scale + gap));
  rows.forEach((r, k) => {
    const y0 = top + k * (h * scale + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = (col: number) => pixel(c, gap + col * (W + gap) + x * scale + 1, y0 + y * scale + 2);
        const i = y * w + x;
        expect(at(0)).toEqual(Array.from(r.image.subarray(3 * i, 3 * i + 3)));
        expect(at(1)).toEqual(PALETTE[r.prediction[i]]);
        expect(at(2)).toEqual(r.truth[i] === 255 ? [0, 0, 0] : PALETTE[r.truth[i]]);
      }
    }
  });
  c.save(join(dir, 'strip.png'));
  const back = readRgb(join(dir, 'strip.png'));
  expect([back.width, back.height]).toEqual([c.width, c.height]);
  expect(Buffer.compare(Buffer.from(back.data), Buffer.from(c.data))).toBe(0);
});

test('segmentation strip with captions: a line of text under each row, images where they would be plus the caption rows', () => {
  const w = 8;
  const h = 4;
  const row = (k: number) => ({ width: w, height: h, image: positionImage(w, h, k), prediction: new Array(w * h).fill(1), truth: new Array(w * h).fill(0), caption: `img ${k} mIoU 50.0` });
  const c = segmentationStrip([row(0), row(1)], PALETTE, 2);
  const plain = segmentationStrip([{ ...row(0), caption: undefined }, { ...row(1), caption: undefined }], PALETTE, 2);
  expect(c.width).toBe(plain.width);
  expect(c.height).toBe(plain.height + 2 * 14);
  const gap = 4;
  const top = 16;
  const rowHeight = h * 2 + 14 + gap;
  for (let k = 0; k < 2; k++) {
    const y0 = top + k * rowHeight;
    expect(pixel(c, gap + 2 * w * 1 + gap + 1, y0 + 1)).toEqual(PALETTE[1]); // prediction column, row k
    // Ink in the caption band under the images, none in the gap below it.
    let ink = 0;
    for (let y = y0 + h * 2; y < y0 + h * 2 + 14; y++) for (let x = 0; x < c.width; x++) if (pixel(c, x, y)[0] === 40) ink++;
    expect(ink).toBeGreaterThan(20);
  }
});

test('nice ticks at 1, 2 or 5 × a power of ten', () => {
  expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
  expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  expect(niceTicks(0.13, 0.87)).toEqual([0.2, 0.4, 0.6, 0.8]);
  expect(niceTicks(0.13, 0.87, 10)).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
  expect(niceTicks(1, 200, 6)).toEqual([50, 100, 150, 200]);
  expect(niceTicks(3, 3)).toEqual([3]);
});

test('text: the 3×5 font draws ink where the glyph has it', () => {
  const c = new Canvas(20, 12);
  const drawn = c.text(1, 1, '1-', [0, 0, 0], 2);
  expect(drawn).toBe(textWidth('1-', 2));
  // '1' row 0 is '.#.': ink at font column 1 only.
  expect(pixel(c, 1 + 2, 1)).toEqual([0, 0, 0]);
  expect(pixel(c, 1, 1)).toEqual([255, 255, 255]);
  // '-' is a bar on row 2.
  expect(pixel(c, 1 + 8, 1 + 4)).toEqual([0, 0, 0]);
  expect(pixel(c, 1 + 8, 1)).toEqual([255, 255, 255]);
});

test('line plot: one panel per metric, series drawn in their colours, gaps skipped', () => {
  const steps = Array.from({ length: 50 }, (_, i) => i + 1);
  const red: [number, number, number] = [230, 0, 0];
  const c = linePlot(
    [
      { title: 'loss', series: [{ name: 'train', points: steps.map((s) => [s, 1 / s]), colour: red }] },
      { title: 'miou', series: [{ name: 'real', points: [[10, 30], [20, NaN], [30, 50]] }], yRange: [0, 100] },
    ],
    400,
    200,
  );
  expect([c.width, c.height]).toEqual([400, 400]);
  let redTop = 0;
  let redBottom = 0;
  for (let y = 0; y < 400; y++) {
    for (let x = 0; x < 400; x++) {
      if (pixel(c, x, y).join() === red.join()) {
        if (y < 200) redTop++;
        else redBottom++;
      }
    }
  }
  expect(redTop).toBeGreaterThan(100);
  expect(redBottom).toBe(0);
});

test('sample grid: titled sections, each image above its colourized labels', () => {
  const w = 5;
  const h = 4;
  const samples = [0, 1, 2].map((k) => ({ image: positionImage(w, h, k * 50), label: Array.from({ length: w * h }, (_, i) => (i + k) % 3) }));
  const c = sampleGrid([{ title: 'syn', width: w, height: h, samples }, { title: 'real', width: w, height: h, samples: samples.slice(0, 2) }], PALETTE, 2);
  const gap = 3;
  const title = 16;
  expect(c.width).toBe(gap + 3 * (2 * w + gap));
  expect(c.height).toBe(gap + 2 * (title + 2 * (2 * h + gap)));
  samples.forEach((s, k) => {
    const x0 = gap + k * (2 * w + gap);
    const y0 = gap + title;
    expect(pixel(c, x0 + 2 * 3, y0 + 2 * 1)).toEqual(Array.from(s.image.subarray(3 * (w + 3), 3 * (w + 3) + 3)));
    expect(pixel(c, x0 + 2 * 3, y0 + 2 * h + gap + 2 * 1)).toEqual(PALETTE[s.label[w + 3]]);
  });
  // The second section has two samples: its third column stays white.
  expect(pixel(c, gap + 2 * (2 * w + gap) + 1, c.height - gap - 2)).toEqual([255, 255, 255]);
});
