// The embedded CLASSIFICATION task (train:cls's default, demo-pilot.md's second pilot): one digit per
// image, 10 classes (the digit), from a synthetic domain to a real one, built offline from what the
// segmentation task uses (digits.ts):
//   synthetic (trainSyn, valSyn): a bold stroke glyph (glyphs.ts: 2 styles, aspect 0.8–1.2, slant ±0.3,
//              pen 1/7–1/5 of the height) in a contrasting colour on procedural backgrounds;
//   real (valReal from MNIST train, testReal from MNIST t10k: disjoint writers and digits): a dilated
//              MNIST digit at opacity 0.7–1 in a contrasting colour on crops of real photographs.
// Both: digit height 0.6–0.9 of the side, rotation ±25°, centred with the slack left by the height.
// Labels are balanced: each run of 10 images holds every digit once, in a seeded order. A real split
// uses each MNIST digit at most once. Deterministic for a seed; cached like the segmentation task.
//
// Interface: loadDigitsClsTask({ seed, size, trainSyn, valSyn, valReal, testReal, photoDir }) →
// { classNames, trainSyn, valSyn, valReal, testReal: ClsSplit, cacheDir }; clsSample(split, i) → ClsImage
// { width, height, image (HWC RGB uint8), label }.
import { join } from 'node:path';
import type { ClsImage } from './cls-augment.js';
import { cacheRoot, configHash, mnistLoader, readCachedSplits, writeCachedSplits, type CachedSplit } from './digits.js';
import { contrastingColour, glyphCoverage, meanLuma, mnistCoverage, paint, photoCrop, proceduralBackground, type Mnist, type Spot } from './render-digits.js';
import { toBytes } from './image.js';
import { photoFolder, readPhotos, type Photo } from './photos.js';
import { DataError } from './png.js';
import { deriveSeed, Rng } from './rng.js';

export interface DigitsClsConfig {
  seed: number;
  /** Image side in pixels. */
  size: number;
  trainSyn: number;
  valSyn: number;
  valReal: number;
  testReal: number;
  /** A folder of PNG photographs to use instead of skimage's (also $CSG_PHOTO_DIR). */
  photoDir?: string;
}

/** The pilot's sizes, with a larger real-test split (60 images per class). */
export const DEFAULT_DIGITS_CLS: DigitsClsConfig = { seed: 0, size: 64, trainSyn: 4000, valSyn: 300, valReal: 300, testReal: 600 };

export const DIGIT_CLASS_NAMES = Array.from({ length: 10 }, (_, d) => String(d));

export interface ClsSplit extends CachedSplit {
  /** [count] the digit 0–9 of each image. */
  labels: Uint8Array;
}

export type ClsSplitName = 'trainSyn' | 'valSyn' | 'valReal' | 'testReal';
export const CLS_SPLITS: readonly ClsSplitName[] = ['trainSyn', 'valSyn', 'valReal', 'testReal'];

export interface DigitsClsTask extends Record<ClsSplitName, ClsSplit> {
  config: DigitsClsConfig;
  classNames: string[];
  /** Folder of the cached arrays. */
  cacheDir: string;
}

const REAL_SOURCE: Partial<Record<ClsSplitName, 'train' | 't10k'>> = { valReal: 'train', testReal: 't10k' };

/** Labels of a split: each run of 10 holds every digit once, in a seeded order. */
export function balancedLabels(count: number, rng: Rng): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i += 10) out.set(rng.permutation(10).slice(0, Math.min(10, count - i)), i);
  return out;
}

/** The labels of a split and, for a real split, which MNIST digit of its source each image shows: a
 *  seeded order of each class's digits, taken in turn (so no digit is used twice). */
export function splitPlan(config: DigitsClsConfig, name: ClsSplitName, mnist?: Mnist): { labels: Uint8Array; mnistIndex?: Int32Array } {
  const rng = new Rng(deriveSeed(config.seed, `cls-${name}-plan`));
  const labels = balancedLabels(config[name], rng);
  if (!mnist) return { labels };
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < mnist.count; i++) byClass[mnist.labels[i]].push(i);
  const order = byClass.map((list) => rng.permutation(list.length).map((k) => list[k]));
  const used = new Array(10).fill(0);
  const mnistIndex = Int32Array.from(labels, (d) => {
    if (used[d] >= order[d].length) throw new DataError(`digits-cls: ${name} needs more than the ${order[d].length} MNIST ${REAL_SOURCE[name]} images of digit ${d}`);
    return order[d][used[d]++];
  });
  return { labels, mnistIndex };
}

/** One digit's place: height 0.6–0.9 of the side, centred with the slack the height leaves. */
function spot(rng: Rng, size: number): Spot {
  const height = size * rng.uniform(0.6, 0.9);
  const slack = Math.max(0, (size * 0.95 - height) / 2);
  return { height, cx: size / 2 + rng.uniform(-slack, slack), cy: size / 2 + rng.uniform(-slack, slack) };
}

function renderSynthetic(rng: Rng, size: number, digit: number, img: Float32Array): void {
  img.set(proceduralBackground(rng, size));
  const colour = contrastingColour(rng, meanLuma(img));
  paint(img, null, glyphCoverage(rng, size, digit, spot(rng, size)), colour, 1, digit);
}

function renderReal(rng: Rng, size: number, photos: Photo[], mnist: Mnist, index: number, img: Float32Array): void {
  img.set(photoCrop(rng, photos, size));
  const colour = contrastingColour(rng, meanLuma(img));
  const opacity = rng.uniform(0.7, 1);
  const place = spot(rng, size);
  const rotation = (rng.uniform(-25, 25) * Math.PI) / 180;
  paint(img, null, mnistCoverage(mnist, index, size, place, rotation), colour, opacity, mnist.labels[index]);
}

function buildSplit(name: ClsSplitName, config: DigitsClsConfig, photos: () => Photo[], mnist: (s: 'train' | 't10k') => Mnist): ClsSplit {
  const { size } = config;
  const source = REAL_SOURCE[name];
  const plan = splitPlan(config, name, source && mnist(source));
  const count = config[name];
  const images = new Uint8Array(count * size * size * 3);
  const rng = new Rng(deriveSeed(config.seed, `cls-${name}`));
  const img = new Float32Array(size * size * 3);
  for (let i = 0; i < count; i++) {
    if (plan.mnistIndex) renderReal(rng, size, photos(), mnist(source!), plan.mnistIndex[i], img);
    else renderSynthetic(rng, size, plan.labels[i], img);
    images.set(toBytes(img), i * size * size * 3);
  }
  return { count, height: size, width: size, images, labels: plan.labels };
}

function checkConfig(c: DigitsClsConfig): void {
  if (!Number.isInteger(c.size) || c.size < 16 || c.size > 1024) throw new DataError(`digits-cls: size ${c.size} must be an integer in 16..1024`);
  for (const s of CLS_SPLITS) if (!Number.isInteger(c[s]) || c[s] < 0) throw new DataError(`digits-cls: ${s} count ${c[s]} must be a non-negative integer`);
}

/** Builds (or reads from the cache) the embedded syn→real digit classification task. */
export function loadDigitsClsTask(partial: Partial<DigitsClsConfig> = {}): DigitsClsTask {
  const config: DigitsClsConfig = { ...DEFAULT_DIGITS_CLS, ...partial };
  checkConfig(config);
  const root = cacheRoot();
  const needsReal = config.valReal > 0 || config.testReal > 0;
  const photos = needsReal ? photoFolder(root, config.photoDir) : { dir: '', names: [] };
  const cacheDir = join(root, `digits-cls-${configHash({ task: 'classification', ...config }, photos)}`);
  let splits = readCachedSplits(cacheDir, CLS_SPLITS, () => 1) as Record<ClsSplitName, ClsSplit> | null;
  if (!splits) {
    const mnist = mnistLoader();
    splits = {} as Record<ClsSplitName, ClsSplit>;
    for (const s of CLS_SPLITS) splits[s] = buildSplit(s, config, () => readPhotos(photos.dir, photos.names), mnist);
    writeCachedSplits(cacheDir, { config, classNames: DIGIT_CLASS_NAMES }, splits, '[count] uint8 digit 0-9');
  }
  return { config, classNames: DIGIT_CLASS_NAMES, ...splits, cacheDir };
}

/** One image of a split and its label (views into the split's arrays). */
export function clsSample(split: ClsSplit, i: number): ClsImage {
  const px = split.height * split.width;
  return { width: split.width, height: split.height, image: split.images.subarray(i * px * 3, (i + 1) * px * 3), label: split.labels[i] };
}
