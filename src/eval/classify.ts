// Evaluation of an image classifier (recipe §5, the reference's validate): each image (resized and
// centre-cropped by src/data/cls-sampler.ts) is scored by the mean of sigmoid(logits) over the image
// and its horizontal flip (both in one forward; `flip: false` scores the image alone, for classes whose
// mirror image is another class, as digits), the prediction is the best-scored class, and the
// metric is the mean over classes of per-class accuracy. Optionally the average-pooled stage-4
// features of the unflipped images (for the hyperspherical energy).
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { globalAvgPool } from '../ops/index.js';
import type { Normalization } from '../data/augment.js';
import type { ViewOptions } from '../data/cls-augment.js';
import { clsEvalBatches, type ClsSource } from '../data/cls-sampler.js';
import type { ModelOutput, Module } from '../nn/index.js';
import { concatFloat32 } from './evaluate.js';

export interface ClassifierLike extends Module {
  forward(x: Tensor): ModelOutput;
}

export interface ClsEvalOptions {
  classes: number;
  norm: Normalization;
  /** Resize and centre crop (the recipe: 224, 224; the digits: their own size). */
  view: ViewOptions;
  /** Images per forward (each also runs flipped, so the GPU sees twice as many). */
  batch: number;
  features?: boolean;
  /** Average the scores over the image and its mirror (the recipe; default true). */
  flip?: boolean;
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
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    const classes = opts.classes;
    const flip = opts.flip ?? true;
    for (const b of clsEvalBatches(source, opts.batch, opts.view, opts.norm)) {
      const { n, size } = b;
      const copies = flip ? 2 : 1;
      const both = flip ? new Float32Array(2 * b.images.length) : b.images;
      if (flip) {
        both.set(b.images);
        both.set(b.flipped, b.images.length);
      }
      const { logits, feats } = noGrad(() =>
        scope(() => {
          const out = model.forward(Tensor.from(both, [copies * n, 3, size, size]));
          return { logits: out.logits, feats: opts.features ? globalAvgPool(out.layer4) : null };
        }),
      );
      const scores = (await logits.read()) as Float32Array;
      const features = feats ? ((await feats.read()) as Float32Array) : null;
      logits.dispose();
      feats?.dispose();
      b.indices.forEach((index, k) => {
        let best = 0;
        let bestScore = -Infinity;
        for (let c = 0; c < classes; c++) {
          const score = flip ? (sigmoid(scores[k * classes + c]!) + sigmoid(scores[(n + k) * classes + c]!)) / 2 : sigmoid(scores[k * classes + c]!);
          if (score > bestScore) [best, bestScore] = [c, score];
        }
        predictions[index] = best;
        labels[index] = b.labels[k]!;
      });
      if (features) {
        featureDim = features.length / (copies * n);
        pooled.push(features.subarray(0, n * featureDim));
      }
      opts.progress?.(b.indices[n - 1]! + 1);
    }
  } finally {
    model.train(wasTraining);
  }
  const features = opts.features ? concatFloat32(pooled) : null;
  return { ...classAccuracy(predictions, labels, opts.classes), predictions, labels, features, featureDim };
}
