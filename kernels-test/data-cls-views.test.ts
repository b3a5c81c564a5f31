import { join } from 'node:path';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../src/data/augment.js';
import { drawView, evalViewInto, resizedSize, trainViewInto, type ClsImage, type ViewOptions } from '../src/data/cls-augment.js';
import { clsEvalBatches, clsTrainBatch, digitsClsSource, type ClsSource } from '../src/data/cls-sampler.js';
import { readRgb } from '../src/data/png.js';
import { applyOp, RANDAUGMENT_OPS } from '../src/data/randaugment.js';
import { Rng } from '../src/data/rng.js';
import { batchIndices } from '../src/data/sampler.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'randaugment');
const png = (file: string) => readRgb(join(FIXTURES, file));
const input = png('input.png');
const sample: ClsImage = { width: input.width, height: input.height, image: input.data, label: 3 };
/** Raw 0–255 values, RGB, so outputs compare with PIL's pixels. */
const RAW: Normalization = { mean: [0, 0, 0], std: [1, 1, 1], bgr: false, scale255: true };
const NO_AUGMENT: ViewOptions = { resize: 24, crop: 24, randAugment: null };

/** CHW crop → HWC, to compare with PIL's images. */
function hwc(chw: Float32Array, side: number, base = 0): Float32Array {
  const out = new Float32Array(side * side * 3);
  for (let c = 0; c < 3; c++) for (let p = 0; p < side * side; p++) out[p * 3 + c] = chw[base + c * side * side + p];
  return out;
}

/** An HWC square mirrored left–right. */
function mirror(img: Float32Array, side: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) out.set(img.subarray((y * side + side - 1 - x) * 3, (y * side + side - x) * 3), (y * side + x) * 3);
  return out;
}

/** Largest absolute difference between a view and PIL's pixels of the window (x0, y0) of `ref`. */
function maxDiff(view: Float32Array, side: number, ref: { width: number; data: Uint8Array }, x0: number, y0: number): number {
  let worst = 0;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(view[(y * side + x) * 3 + c] - ref.data[((y + y0) * ref.width + x + x0) * 3 + c]));
    }
  }
  return worst;
}

test("torchvision's Resize(int): the shorter side to the size, the longer truncated", () => {
  expect(resizedSize(40, 32, 24)).toEqual([30, 24]);
  expect(resizedSize(32, 40, 24)).toEqual([24, 30]);
  expect(resizedSize(33, 50, 224)).toEqual([224, 339]);
  expect(resizedSize(64, 64, 72)).toEqual([72, 72]);
});

test("evaluation: Resize + CenterCrop match torchvision on PIL within one grey level, and the flip mirrors the crop", () => {
  const out = new Float32Array(3 * 24 * 24);
  const flipped = new Float32Array(3 * 24 * 24);
  evalViewInto(sample, NO_AUGMENT, RAW, out, flipped, 0);
  // PIL rounds after each resampling pass; we resample in float: at most 1 apart.
  expect(maxDiff(hwc(out, 24), 24, png('resize24_center_crop24.png'), 0, 0)).toBeLessThanOrEqual(1);
  expect(maxDiff(hwc(out, 24), 24, png('resize24.png'), 3, 0)).toBeLessThanOrEqual(1);
  expect(Array.from(hwc(flipped, 24))).toEqual(Array.from(mirror(hwc(out, 24), 24)));
});

test('training: the crop lands where drawn in the resized image; offsets cover their whole range', () => {
  const resized = png('resize24.png');
  const seen = new Set<number>();
  const rng = new Rng(5);
  for (let i = 0; i < 60; i++) {
    const d = drawView(rng, 40, 32, { resize: 24, crop: 20, randAugment: null });
    expect(d.ops).toEqual([]);
    seen.add(d.cropX * 10 + d.cropY);
    if (i < 5) {
      const out = new Float32Array(3 * 20 * 20);
      trainViewInto(sample, d, { resize: 24, crop: 20, randAugment: null }, RAW, out, 0);
      expect(maxDiff(hwc(out, 20), 20, resized, d.cropX, d.cropY)).toBeLessThanOrEqual(1);
    }
  }
  // cropX in 0..10, cropY in 0..4: 55 positions, most of them seen in 60 draws.
  expect(Math.max(...[...seen].map((v) => Math.floor(v / 10)))).toBe(10);
  expect(Math.max(...[...seen].map((v) => v % 10))).toBe(4);
  expect(seen.size).toBeGreaterThan(25);
});

test('training: RandAugment acts on the full image before the resize, with the drawn op and sign', () => {
  const rotate = RANDAUGMENT_OPS.findIndex(([op]) => op === 'Rotate');
  const opts: ViewOptions = { resize: 24, crop: 24, randAugment: { n: 1, m: 6 } };
  const d = { ops: [{ op: rotate, draw: 0.9 }], cropY: 0, cropX: 2 };
  const out = new Float32Array(3 * 24 * 24);
  trainViewInto(sample, d, opts, RAW, out, 0);
  const rotated = applyOp({ width: 40, height: 32, data: input.data }, 'Rotate', -6);
  const expected = new Float32Array(3 * 24 * 24);
  trainViewInto({ ...sample, image: rotated.data }, { ops: [], cropY: 0, cropX: 2 }, NO_AUGMENT, RAW, expected, 0);
  expect(Array.from(out)).toEqual(Array.from(expected));
  const plain = new Float32Array(3 * 24 * 24);
  trainViewInto(sample, { ...d, ops: [] }, NO_AUGMENT, RAW, plain, 0);
  expect(Array.from(out)).not.toEqual(Array.from(plain));
});

test('normalisation: Caffe BGR 0–255 mean-subtracted, or torchvision RGB mean/std', () => {
  const tiny: ClsImage = { width: 2, height: 2, image: Uint8Array.from([10, 20, 30, 10, 20, 30, 10, 20, 30, 10, 20, 30]), label: 0 };
  const opts: ViewOptions = { resize: 2, crop: 2, randAugment: null };
  const caffe = new Float32Array(12);
  const imagenet = new Float32Array(12);
  evalViewInto(tiny, opts, CAFFE_NORM, caffe, new Float32Array(12), 0);
  evalViewInto(tiny, opts, IMAGENET_NORM, imagenet, new Float32Array(12), 0);
  expect(caffe[0]).toBeCloseTo(30 - 103.939, 3);
  expect(caffe[4]).toBeCloseTo(20 - 116.779, 3);
  expect(caffe[8]).toBeCloseTo(10 - 123.68, 3);
  expect(imagenet[0]).toBeCloseTo((10 / 255 - 0.485) / 0.229, 5);
  expect(imagenet[8]).toBeCloseTo((30 / 255 - 0.406) / 0.225, 5);
});

/** Seven 16×12 images of distinct content, labels 0–6, as a digits-cls split. */
function smallSource(labels = [0, 1, 2, 3, 4, 5, 6]): ClsSource {
  const [w, h] = [16, 12];
  const images = new Uint8Array(labels.length * w * h * 3);
  const r = new Rng(11);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r.next() * 256);
  return digitsClsSource('small', { count: labels.length, width: w, height: h, images, labels: Uint8Array.from(labels) }, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
}
const VIEW: ViewOptions = { resize: 14, crop: 12, randAugment: { n: 1, m: 6, translateMax: 8 } };

test('training batches: a pure function of (seed, step); q and k independent; the same q without k', () => {
  const source = smallSource();
  const a = clsTrainBatch(source, 4, 3, 5, VIEW, IMAGENET_NORM, true);
  const b = clsTrainBatch(source, 4, 3, 5, VIEW, IMAGENET_NORM, true);
  const noKeys = clsTrainBatch(source, 4, 3, 5, VIEW, IMAGENET_NORM, false);
  expect([a.n, a.size, a.images.length, a.keys!.length]).toEqual([4, 12, 4 * 3 * 144, 4 * 3 * 144]);
  expect(a.indices).toEqual(batchIndices(7, 4, 3, 5));
  expect(Array.from(a.labels)).toEqual(a.indices);
  expect(Buffer.from(b.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
  expect(Buffer.from(b.keys!.buffer).equals(Buffer.from(a.keys!.buffer))).toBe(true);
  expect(noKeys.keys).toBeUndefined();
  expect(Buffer.from(noKeys.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(true);
  // Two independent draws: q and k differ (a crop offset or an op) for most images.
  const per = 3 * 144;
  let differ = 0;
  for (let i = 0; i < 4; i++) if (!Buffer.from(a.images.buffer, i * per * 4, per * 4).equals(Buffer.from(a.keys!.buffer, i * per * 4, per * 4))) differ++;
  expect(differ).toBeGreaterThanOrEqual(3);
  const next = clsTrainBatch(source, 4, 3, 6, VIEW, IMAGENET_NORM, true);
  expect(Buffer.from(next.images.buffer).equals(Buffer.from(a.images.buffer))).toBe(false);
  // One epoch of 7 images in batches of 7 sees each image once.
  expect(clsTrainBatch(source, 7, 9, 0, VIEW, IMAGENET_NORM, false).indices.slice().sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
});

test('evaluation batches: every image once, in order, the last batch smaller, each with its mirror', () => {
  const source = smallSource();
  const batches = [...clsEvalBatches(source, 3, VIEW, IMAGENET_NORM)];
  expect(batches.map((b) => b.n)).toEqual([3, 3, 1]);
  expect(batches.flatMap((b) => b.indices)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(batches.flatMap((b) => Array.from(b.labels))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  const last = batches[2];
  expect(Array.from(hwc(last.flipped, 12))).toEqual(Array.from(mirror(hwc(last.images, 12), 12)));
  // No RandAugment at evaluation: the same batch twice is identical.
  const again = [...clsEvalBatches(source, 3, VIEW, IMAGENET_NORM)];
  expect(Buffer.from(again[1].images.buffer).equals(Buffer.from(batches[1].images.buffer))).toBe(true);
});

test('bad labels and options are named', () => {
  const source = smallSource([0, 1, 9]);
  expect(() => [...clsEvalBatches(source, 3, VIEW, IMAGENET_NORM)]).toThrow('small: image 2 has label 9, outside 0..6');
  expect(() => clsTrainBatch(smallSource(), 2, 0, 0, { ...VIEW, crop: 20 }, IMAGENET_NORM, false)).toThrow('views: crop 20 and resize 14 must be integers with 1 <= crop <= resize');
  expect(() => clsTrainBatch(smallSource(), 2, 0, 0, { ...VIEW, randAugment: { n: 1, m: 40 } }, IMAGENET_NORM, false)).toThrow('views: RandAugment N 1 must be a non-negative integer and M 40 in 0..30');
});
