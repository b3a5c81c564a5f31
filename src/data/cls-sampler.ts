// Batches for classification. Training: which images make up the batch of a step and every view draw
// are pure functions of (seed, step), as for segmentation (sampler.ts: the same epoch permutations and
// per-step generator), so a resumed run continues identically and baseline / CSG / other methods with
// the same seed see the same images and the same q and k views. Both views are drawn for every image
// whether or not k is made. Evaluation: every image once, in order, centre-cropped, with its mirror.
// Normalisation is the model's: CAFFE_NORM (BGR, 0–255, mean only) for the npm ImageNet ResNet-50,
// IMAGENET_NORM (RGB, mean/std) for torchvision weights (augment.ts).
// Interface: digitsClsSource / visdaSource → ClsSource; clsTrainBatch(source, batchSize, seed, step, opts,
// norm, withKeys) → ClsBatch; clsEvalBatches(source, batchSize, opts, norm) → ClsEvalBatch per batch.
import type { Normalization } from './augment.js';
import { checkViewOptions, drawView, evalViewInto, trainViewInto, type ClsImage, type ViewOptions } from './cls-augment.js';
import { clsSample, type ClsSplit } from './digits-cls.js';
import { DataError } from './png.js';
import { batchIndices, stepRng } from './sampler.js';
import type { ClsDataset } from './visda.js';

/** Anything that hands out labelled images by index. */
export interface ClsSource {
  name: string;
  count: number;
  classNames: readonly string[];
  get(index: number): ClsImage;
}

export function digitsClsSource(name: string, split: ClsSplit, classNames: readonly string[]): ClsSource {
  return { name, count: split.count, classNames, get: (i) => clsSample(split, i) };
}

export function visdaSource(ds: ClsDataset): ClsSource {
  return { name: ds.name, count: ds.items.length, classNames: ds.classNames, get: (i) => ds.load(i) };
}

export interface ClsBatch {
  n: number;
  /** The crop's side. */
  size: number;
  /** [N, 3, size, size] normalised q views. */
  images: Float32Array;
  /** [N, 3, size, size] normalised k views, when asked for. */
  keys?: Float32Array;
  /** [N] classes. */
  labels: Int32Array;
  /** Which images of the source, in batch order. */
  indices: number[];
}

/** The training batch of `step`: q views (and k views when `withKeys`); the draws never depend on it. */
export function clsTrainBatch(source: ClsSource, batchSize: number, seed: number, step: number, opts: ViewOptions, norm: Normalization, withKeys: boolean): ClsBatch {
  checkViewOptions(opts);
  const size = opts.crop;
  const per = 3 * size * size;
  const indices = batchIndices(source.count, batchSize, seed, step);
  const rng = stepRng(seed, step);
  const batch: ClsBatch = {
    n: batchSize,
    size,
    images: new Float32Array(batchSize * per),
    keys: withKeys ? new Float32Array(batchSize * per) : undefined,
    labels: new Int32Array(batchSize),
    indices,
  };
  indices.forEach((index, i) => {
    const s = source.get(index);
    checkLabel(source, index, s.label);
    const q = drawView(rng, s.width, s.height, opts);
    const k = drawView(rng, s.width, s.height, opts);
    trainViewInto(s, q, opts, norm, batch.images, i * per);
    if (batch.keys) trainViewInto(s, k, opts, norm, batch.keys, i * per);
    batch.labels[i] = s.label;
  });
  return batch;
}

export interface ClsEvalBatch {
  n: number;
  size: number;
  /** [N, 3, size, size] normalised centre crops. */
  images: Float32Array;
  /** [N, 3, size, size] the same crops mirrored left–right. */
  flipped: Float32Array;
  labels: Int32Array;
  /** Which images of the source. */
  indices: number[];
}

/** Every image of the source once, in order, in batches of at most `batchSize` (the last may be smaller). */
export function* clsEvalBatches(source: ClsSource, batchSize: number, opts: ViewOptions, norm: Normalization): Generator<ClsEvalBatch> {
  checkViewOptions(opts);
  const size = opts.crop;
  const per = 3 * size * size;
  for (let start = 0; start < source.count; start += batchSize) {
    const n = Math.min(batchSize, source.count - start);
    const batch: ClsEvalBatch = { n, size, images: new Float32Array(n * per), flipped: new Float32Array(n * per), labels: new Int32Array(n), indices: [] };
    for (let i = 0; i < n; i++) {
      const s = source.get(start + i);
      checkLabel(source, start + i, s.label);
      evalViewInto(s, opts, norm, batch.images, batch.flipped, i * per);
      batch.labels[i] = s.label;
      batch.indices.push(start + i);
    }
    yield batch;
  }
}

function checkLabel(source: ClsSource, index: number, label: number): void {
  if (!Number.isInteger(label) || label < 0 || label >= source.classNames.length) {
    throw new DataError(`${source.name}: image ${index} has label ${label}, outside 0..${source.classNames.length - 1}`);
  }
}
