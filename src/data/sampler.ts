// Which samples make up each training batch, and the augmentation draws for it. Both are pure
// functions of (seed, step): a resumed run continues identically, and a baseline run and a CSG run
// with the same seed see the same images, flips, scales, crops and jitter.
import { makeBatch, type AugmentOptions, type Batch, type LabelledImage, type Normalization } from './augment.js';
import type { SegDataset } from './cityscapes.js';
import { splitSample, type DigitsSplit } from './digits.js';
import { DataError } from './png.js';
import { deriveSeed, Rng } from './rng.js';

/** Anything that hands out labelled images by index. */
export interface SampleSource {
  name: string;
  count: number;
  get(index: number): LabelledImage;
}

export function digitsSource(name: string, split: DigitsSplit): SampleSource {
  return { name, count: split.count, get: (i) => splitSample(split, i) };
}

export function datasetSource(ds: SegDataset): SampleSource {
  return { name: ds.name, count: ds.pairs.length, get: (i) => ds.load(i) };
}

const permutations = new Map<string, number[]>();

/** The order of epoch `epoch`: a seeded permutation (the last two used are kept). */
function epochOrder(count: number, seed: number, epoch: number): number[] {
  const key = `${count}:${seed}:${epoch}`;
  let order = permutations.get(key);
  if (!order) {
    order = new Rng(deriveSeed(seed, `epoch-${epoch}`)).permutation(count);
    permutations.set(key, order);
    if (permutations.size > 2) permutations.delete(permutations.keys().next().value!);
  }
  return order;
}

/** Sample indices of the batch at `step`: consecutive slices of per-epoch permutations (a batch may
 *  straddle two epochs), so every sample is seen once per epoch. */
export function batchIndices(count: number, batchSize: number, seed: number, step: number): number[] {
  if (count <= 0) throw new DataError('batchIndices: the data set is empty');
  return Array.from({ length: batchSize }, (_, k) => {
    const pos = step * batchSize + k;
    return epochOrder(count, seed, Math.floor(pos / count))[pos % count];
  });
}

/** The augmentation generator of one step. */
export function stepRng(seed: number, step: number): Rng {
  return new Rng(deriveSeed(seed, `augment-${step}`));
}

/** The augmented training batch of `step` (keys made for CSG; the draws do not depend on it). */
export function trainBatch(source: SampleSource, batchSize: number, seed: number, step: number, opts: AugmentOptions, norm: Normalization, withKeys: boolean): Batch {
  const samples = batchIndices(source.count, batchSize, seed, step).map((i) => source.get(i));
  return makeBatch(samples, stepRng(seed, step), opts, norm, withKeys);
}
