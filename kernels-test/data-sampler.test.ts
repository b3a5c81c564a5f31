import { IMAGENET_NORM } from '../src/data/augment.js';
import type { DigitsSplit } from '../src/data/digits.js';
import { batchIndices, digitsSource, stepRng, trainBatch } from '../src/data/sampler.js';

test('every sample once per epoch, batches straddling epochs, a fresh order each epoch', () => {
  const count = 10;
  const seen: number[] = [];
  for (let step = 0; step < 5; step++) seen.push(...batchIndices(count, 4, 7, step));
  expect([...seen.slice(0, 10)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect([...seen.slice(10, 20)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(seen.slice(0, 10)).not.toEqual(seen.slice(10, 20));
  // Stateless: asking for step 3 alone gives what the sequence gave.
  expect(batchIndices(count, 4, 7, 3)).toEqual(seen.slice(12, 16));
  expect(batchIndices(count, 4, 8, 0)).not.toEqual(seen.slice(0, 4));
  expect(() => batchIndices(0, 4, 1, 0)).toThrow(/empty/);
});

test('a step gives the same batch whether or not key images are made, and whenever it is asked for', () => {
  const size = 8;
  const count = 5;
  const split: DigitsSplit = {
    count,
    height: size,
    width: size,
    images: Uint8Array.from({ length: count * size * size * 3 }, (_, i) => (i * 37) & 255),
    labels: Uint8Array.from({ length: count * size * size }, (_, i) => (i >> 3) & 1),
  };
  const source = digitsSource('toy', split);
  const opts = { crop: [6, 6] as [number, number] };
  const later = trainBatch(source, 3, 11, 4, opts, IMAGENET_NORM, true);
  trainBatch(source, 3, 11, 0, opts, IMAGENET_NORM, false);
  const again = trainBatch(source, 3, 11, 4, opts, IMAGENET_NORM, false);
  expect(again.images).toEqual(later.images);
  expect(again.labels).toEqual(later.labels);
  expect(later.keys).toBeDefined();
  expect(trainBatch(source, 3, 11, 5, opts, IMAGENET_NORM, false).images).not.toEqual(later.images);
  expect(stepRng(11, 4).next()).toBe(stepRng(11, 4).next());
  expect(stepRng(11, 4).next()).not.toBe(stepRng(11, 5).next());
});
