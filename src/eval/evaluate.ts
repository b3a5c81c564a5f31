// Evaluation of a segmentation model on whole images (recipe §4): one forward per batch of equally
// sized images, argmax on the GPU, a confusion matrix over the whole set; optionally the pooled
// stage-4 features (for the hyperspherical energy) and a few predictions for pictures.
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { argmax, globalAvgPool } from '../ops/index.js';
import { normalizeImage, type LabelledImage, type Normalization } from '../data/augment.js';
import type { SampleSource } from '../data/sampler.js';
import type { DeepLabResNet } from '../nn/index.js';
import { ConfusionMatrix } from './confusion.js';

export interface EvalOptions {
  classes: number;
  norm: Normalization;
  /** Images per forward (only images of one size share a batch). */
  batch: number;
  /** Keep the L2-pooled stage-4 feature of each image (for the hyperspherical energy). */
  features?: boolean;
  /** Indices of the images whose predictions are kept for pictures (see evenlySpaced). */
  keep?: readonly number[];
  /** Called after each batch with the number of images done. */
  progress?: (done: number) => void;
}

export interface EvalSample extends LabelledImage {
  /** Index of the image in its split. */
  index: number;
  prediction: Uint8Array;
  /** This image's own mIoU and per-class IoU (NaN where a class is absent from both). */
  miou: number;
  iou: number[];
}

/**
 * `n` indices spread evenly over `count` images (⌊k·count/n⌋): a fixed rule for which predictions a
 * picture shows, blind to how good they are.
 */
export function evenlySpaced(count: number, n: number): number[] {
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(n) || n < 0) throw new Error(`evenlySpaced: count ${count} and n ${n} must be non-negative integers`);
  const m = Math.min(n, count);
  return Array.from({ length: m }, (_, k) => Math.floor((k * count) / m));
}

export interface EvalResult {
  confusion: ConfusionMatrix;
  /** [count, C4] average-pooled layer4 features, when asked for. */
  features: Float32Array | null;
  featureDim: number;
  samples: EvalSample[];
}

export async function evaluate(model: DeepLabResNet, source: SampleSource, opts: EvalOptions): Promise<EvalResult> {
  const confusion = new ConfusionMatrix(opts.classes);
  const samples: EvalSample[] = [];
  const keep = new Set(opts.keep ?? []);
  const pooled: Float32Array[] = [];
  let featureDim = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    let i = 0;
    while (i < source.count) {
      const first = source.get(i);
      const group: LabelledImage[] = [first];
      while (group.length < opts.batch && i + group.length < source.count) {
        const next = source.get(i + group.length);
        if (next.width !== first.width || next.height !== first.height) break;
        group.push(next);
      }
      const { width, height } = first;
      const plane = width * height;
      const images = new Float32Array(group.length * 3 * plane);
      group.forEach((s, k) => images.set(normalizeImage(s.image, width, height, opts.norm), k * 3 * plane));
      const { pred, feats } = noGrad(() =>
        scope(() => {
          const out = model.forward(Tensor.from(images, [group.length, 3, height, width]));
          return { pred: argmax(out.logits, 1), feats: opts.features ? globalAvgPool(out.layer4) : null };
        }),
      );
      const predictions = (await pred.read()) as Uint32Array;
      const features = feats ? ((await feats.read()) as Float32Array) : null;
      pred.dispose();
      feats?.dispose();
      group.forEach((s, k) => {
        const prediction = predictions.subarray(k * plane, (k + 1) * plane);
        confusion.add(prediction, s.label);
        if (keep.has(i + k)) {
          const own = new ConfusionMatrix(opts.classes);
          own.add(prediction, s.label);
          samples.push({ ...s, index: i + k, prediction: Uint8Array.from(prediction), miou: own.miou(), iou: own.iou() });
        }
      });
      if (features) {
        featureDim = features.length / group.length;
        pooled.push(features);
      }
      i += group.length;
      opts.progress?.(i);
    }
  } finally {
    model.train(wasTraining);
  }
  const features = opts.features ? concatFloat32(pooled) : null;
  return { confusion, features, featureDim, samples };
}

/** The arrays one after the other in one Float32Array (the pooled features of every batch). */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, f) => a + f.length, 0));
  let at = 0;
  for (const f of parts) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}
