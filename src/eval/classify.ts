// Evaluation of an image classifier (recipe §5, the reference's validate): each image is scored by
// the mean of sigmoid(logits) over the image and its horizontal flip (both in one forward), the
// prediction is the best-scored class, and the metric is the mean over classes of per-class accuracy.
// Optionally the average-pooled stage-4 features of the unflipped images (for the hyperspherical energy).
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { globalAvgPool } from '../ops/index.js';
import { normalizeImage, type Normalization } from '../data/augment.js';
import type { ModelOutput } from '../nn/index.js';
import type { Module } from '../nn/index.js';

/** One image (HWC RGB uint8) and its class. */
export interface ClsSample {
  width: number;
  height: number;
  image: Uint8Array;
  label: number;
}

/** Anything that hands out labelled images by index (all of one size, or batched by runs of one size). */
export interface ClsSource {
  name: string;
  count: number;
  get(index: number): ClsSample;
}

export interface ClassifierLike extends Module {
  forward(x: Tensor): ModelOutput;
}

export interface ClsEvalOptions {
  classes: number;
  norm: Normalization;
  /** Images per forward (each also runs flipped, so the GPU sees twice as many). */
  batch: number;
  features?: boolean;
  progress?: (done: number) => void;
}

export interface ClsEvalResult {
  /** Per class: the share of its images predicted right; NaN for a class with no image. */
  perClass: number[];
  /** Mean of perClass over the classes that have images (the headline metric). */
  meanPerClass: number;
  /** Share of all images predicted right. */
  accuracy: number;
  predictions: Int32Array;
  labels: Int32Array;
  /** [count, C4] average-pooled layer4 features of the unflipped images, when asked for. */
  features: Float32Array | null;
  featureDim: number;
}

/** CHW planes flipped left–right. */
function flipPlanes(chw: Float32Array, width: number): Float32Array {
  const out = new Float32Array(chw.length);
  for (let row = 0; row < chw.length / width; row++) {
    for (let x = 0; x < width; x++) out[row * width + x] = chw[row * width + width - 1 - x]!;
  }
  return out;
}

/** Per-class accuracy and its mean over present classes, overall accuracy. */
export function classAccuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>, classes: number): Pick<ClsEvalResult, 'perClass' | 'meanPerClass' | 'accuracy'> {
  const right = new Array<number>(classes).fill(0);
  const total = new Array<number>(classes).fill(0);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    total[labels[i]!]!++;
    if (predictions[i] === labels[i]) {
      right[labels[i]!]!++;
      correct++;
    }
  }
  const perClass = total.map((t, c) => (t > 0 ? right[c]! / t : NaN));
  const present = perClass.filter((a) => !Number.isNaN(a));
  return { perClass, meanPerClass: present.reduce((a, b) => a + b, 0) / Math.max(1, present.length), accuracy: correct / Math.max(1, labels.length) };
}

export async function evaluateClassifier(model: ClassifierLike, source: ClsSource, opts: ClsEvalOptions): Promise<ClsEvalResult> {
  const predictions = new Int32Array(source.count);
  const labels = new Int32Array(source.count);
  const pooled: Float32Array[] = [];
  let featureDim = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    let i = 0;
    while (i < source.count) {
      const first = source.get(i);
      const group = [first];
      while (group.length < opts.batch && i + group.length < source.count) {
        const next = source.get(i + group.length);
        if (next.width !== first.width || next.height !== first.height) break;
        group.push(next);
      }
      const { width, height } = first;
      const size = 3 * width * height;
      const n = group.length;
      const images = new Float32Array(2 * n * size);
      group.forEach((s, k) => {
        if (s.label < 0 || s.label >= opts.classes) throw new RangeError(`${source.name}: image ${i + k} has label ${s.label}, outside 0..${opts.classes - 1}`);
        const chw = normalizeImage(s.image, width, height, opts.norm);
        images.set(chw, k * size);
        images.set(flipPlanes(chw, width), (n + k) * size);
      });
      const { logits, feats } = noGrad(() =>
        scope(() => {
          const out = model.forward(Tensor.from(images, [2 * n, 3, height, width]));
          return { logits: out.logits, feats: opts.features ? globalAvgPool(out.layer4) : null };
        }),
      );
      const scores = (await logits.read()) as Float32Array;
      const features = feats ? ((await feats.read()) as Float32Array) : null;
      logits.dispose();
      feats?.dispose();
      const classes = opts.classes;
      const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
      group.forEach((s, k) => {
        let best = 0;
        let bestScore = -Infinity;
        for (let c = 0; c < classes; c++) {
          const score = (sigmoid(scores[k * classes + c]!) + sigmoid(scores[(n + k) * classes + c]!)) / 2;
          if (score > bestScore) [best, bestScore] = [c, score];
        }
        predictions[i + k] = best;
        labels[i + k] = s.label;
      });
      if (features) {
        featureDim = features.length / (2 * n);
        pooled.push(features.subarray(0, n * featureDim));
      }
      i += n;
      opts.progress?.(i);
    }
  } finally {
    model.train(wasTraining);
  }
  let features: Float32Array | null = null;
  if (opts.features) {
    features = new Float32Array(pooled.reduce((a, f) => a + f.length, 0));
    let at = 0;
    for (const f of pooled) {
      features.set(f, at);
      at += f.length;
    }
  }
  return { ...classAccuracy(predictions, labels, opts.classes), predictions, labels, features, featureDim };
}
