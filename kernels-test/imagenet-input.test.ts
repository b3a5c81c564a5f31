// Caffe-style input for the ImageNet ResNet-50: RGB(A) uint8 HWC → BGR minus mean, NCHW float32.
import { caffeInput, CAFFE_BGR_MEAN } from '../src/io/imagenet-input.js';
import { LABELLED_PHOTOS, loadPhoto, IMAGENET_LABELS } from './imagenet-fixtures.js';

test('a 1×2 RGB image, by hand', () => {
  // pixel 0 = (R 10, G 20, B 30), pixel 1 = (R 200, G 100, B 0)
  const got = caffeInput(Uint8Array.from([10, 20, 30, 200, 100, 0]), 1, 2);
  const want = [30 - 103.939, 0 - 103.939, 20 - 116.779, 100 - 116.779, 10 - 123.68, 200 - 123.68].map(Math.fround);
  expect(Array.from(got)).toEqual(want);
});

test('RGBA ignores alpha and matches RGB', () => {
  const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const rgba = new Uint8Array(2 * 3 * 4);
  for (let p = 0; p < 6; p++) rgba.set([...rgb.subarray(p * 3, p * 3 + 3), 255 - p], p * 4);
  expect(Array.from(caffeInput(rgba, 2, 3, 4))).toEqual(Array.from(caffeInput(rgb, 2, 3)));
});

test('a size mismatch is an error saying what was expected', () => {
  expect(() => caffeInput(new Uint8Array(10), 2, 2)).toThrow('caffeInput: 10 values do not make a 2×2 image with 3 channels (12)');
});

test('the committed photos decode to 224×224 and convert', () => {
  for (const { file } of LABELLED_PHOTOS) {
    const { rgba, height, width } = loadPhoto(file);
    expect([height, width]).toEqual([224, 224]);
    const x = caffeInput(rgba, height, width, 4);
    const hw = height * width;
    const p = 123 * width + 45;
    expect(x[p]).toBeCloseTo(rgba[p * 4 + 2] - CAFFE_BGR_MEAN[0], 4);
    expect(x[2 * hw + p]).toBeCloseTo(rgba[p * 4] - CAFFE_BGR_MEAN[2], 4);
  }
  expect(IMAGENET_LABELS).toHaveLength(1000);
  expect([IMAGENET_LABELS[285], IMAGENET_LABELS[967]]).toEqual(['Egyptian_cat', 'espresso']);
});
