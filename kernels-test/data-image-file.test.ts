import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readImageFile } from '../src/data/image-file.js';
import { readRgb } from '../src/data/png.js';
import { encodeJpeg, encodePng, positionImage, tempDir, writeFile } from './data-fixtures.js';

const dir = tempDir('image-file');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A smooth colour image (JPEG keeps smooth images close to the original). */
function smoothImage(width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set([Math.round((255 * x) / (width - 1)), Math.round((255 * y) / (height - 1)), 128 + Math.round(60 * Math.sin(x / 5))], (y * width + x) * 3);
  }
  return out;
}

test('a JPEG reads as RGB close to the image encoded (quality 95: mean error under 1.5, max under 16)', () => {
  const [w, h] = [40, 24];
  const rgb = smoothImage(w, h);
  const path = join(dir, 'smooth.jpg');
  writeFile(path, encodeJpeg(w, h, rgb, 95));
  const img = readImageFile(path);
  expect([img.width, img.height, img.channels, img.data.length]).toEqual([w, h, 3, w * h * 3]);
  let sum = 0;
  let max = 0;
  img.data.forEach((v, i) => {
    const d = Math.abs(v - rgb[i]);
    sum += d;
    max = Math.max(max, d);
  });
  expect(sum / rgb.length).toBeLessThan(1.5);
  expect(max).toBeLessThan(16);
});

// JPEGs written by PIL (libjpeg-turbo), with PIL's decoding (kernels-test/fixtures/make_jpeg.py).
const PIL_JPEG = join(import.meta.dirname, 'fixtures', 'jpeg');

test("JPEGs as libjpeg writes them (4:2:0, progressive, grey, Adobe CMYK) read as PIL reads them", () => {
  const luma = (d: Uint8Array, p: number) => 0.299 * d[p] + 0.587 * d[p + 1] + 0.114 * d[p + 2];
  const stats = (name: string) => {
    const ours = readImageFile(join(PIL_JPEG, `${name}.jpg`));
    const pil = readRgb(join(PIL_JPEG, `${name}.png`));
    expect([name, ours.width, ours.height]).toEqual([name, pil.width, pil.height]);
    let [max, sum, lumaSum] = [0, 0, 0];
    for (let i = 0; i < ours.data.length; i++) {
      const d = Math.abs(ours.data[i] - pil.data[i]);
      [max, sum] = [Math.max(max, d), sum + d];
      if (i % 3 === 0) lumaSum += Math.abs(luma(ours.data, i) - luma(pil.data, i));
    }
    return { data: ours.data, max, mean: sum / ours.data.length, lumaMean: lumaSum / (ours.data.length / 3) };
  };
  // One component, and CMYK: the same pixels to within one level.
  expect(stats('grey').max).toBeLessThanOrEqual(1);
  expect(stats('cmyk').max).toBeLessThanOrEqual(1);
  // 4:2:0: jpeg-js replicates the half-size chroma where libjpeg interpolates it, so colours differ at
  // sharp colour edges (measured: max 37, mean 2.9 levels per channel; luma mean 0.5).
  const baseline = stats('baseline420');
  const progressive = stats('progressive');
  for (const s of [baseline, progressive]) {
    expect(s.max).toBeLessThanOrEqual(40);
    expect(s.mean).toBeLessThan(3.5);
    expect(s.lumaMean).toBeLessThan(1);
  }
  // Progressive and baseline files of one image hold the same coefficients: the same pixels.
  expect(Buffer.from(progressive.data).equals(Buffer.from(baseline.data))).toBe(true);
});

test('a PNG reads exactly as readRgb does, and the format is told by the bytes, not the name', () => {
  const rgb = positionImage(5, 3, 7);
  const png = join(dir, 'pos.png');
  writeFile(png, encodePng(5, 3, 2, 8, rgb));
  expect(Array.from(readImageFile(png).data)).toEqual(Array.from(readRgb(png).data));
  const grey = join(dir, 'grey.png');
  writeFile(grey, encodePng(2, 1, 0, 8, [10, 200]));
  expect(Array.from(readImageFile(grey).data)).toEqual([10, 10, 10, 200, 200, 200]);
  const misnamed = join(dir, 'really-a-jpeg.png');
  writeFile(misnamed, encodeJpeg(8, 8, new Uint8Array(8 * 8 * 3).fill(90), 90));
  const img = readImageFile(misnamed);
  expect([img.width, img.height]).toEqual([8, 8]);
  expect(img.data.every((v) => Math.abs(v - 90) <= 2)).toBe(true);
});

test('missing, truncated, scrambled, empty and unknown files are named', () => {
  const jpeg = encodeJpeg(16, 16, smoothImage(16, 16), 90);
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated.jpg', jpeg.subarray(0, Math.floor(jpeg.length / 2)), /^corrupt JPEG .*truncated\.jpg: /],
    ['scrambled.jpg', Buffer.concat([jpeg.subarray(0, 200), Buffer.alloc(100, 7), jpeg.subarray(300)]), /^corrupt JPEG .*scrambled\.jpg: /],
    ['header-only.jpg', jpeg.subarray(0, 20), /^corrupt JPEG .*header-only\.jpg: /],
    ['empty.jpg', new Uint8Array(0), /^corrupt image .*empty\.jpg: neither PNG nor JPEG \(first bytes none: empty file\)$/],
    ['text.jpg', Buffer.from('GIF89a not a jpeg'), /^corrupt image .*text\.jpg: neither PNG nor JPEG \(first bytes 47 49 46 38\)$/],
    ['cut.png', encodePng(4, 4, 2, 8, positionImage(4, 4)).subarray(0, 40), /^corrupt PNG .*cut\.png: /],
  ];
  for (const [name, bytes, message] of cases) {
    const path = join(dir, name);
    writeFile(path, bytes);
    expect(() => readImageFile(path)).toThrow(message);
  }
  expect(() => readImageFile(join(dir, 'nowhere.jpg'))).toThrow(`missing file: ${join(dir, 'nowhere.jpg')}`);
});
