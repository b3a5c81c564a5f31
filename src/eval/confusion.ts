// Segmentation metrics: a confusion matrix summed over a whole evaluation set, then per-class IoU
// tp / (tp + fp + fn), mIoU over classes with a non-empty union, and pixel accuracy. Ignored pixels
// (label 255) count nowhere.
export const IGNORE_LABEL = 255;

export class ConfusionMatrix {
  /** counts[label · classes + prediction] */
  readonly counts: Float64Array;

  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  /** Adds one image (or batch) of predictions and labels of the same length. */
  add(prediction: ArrayLike<number>, label: ArrayLike<number>): void {
    if (prediction.length !== label.length) {
      throw new Error(`confusion matrix: ${prediction.length} predictions for ${label.length} labels`);
    }
    const c = this.classes;
    for (let i = 0; i < label.length; i++) {
      const l = label[i]!;
      if (l === IGNORE_LABEL) continue;
      const p = prediction[i]!;
      if (l < 0 || l >= c) throw new Error(`confusion matrix: label ${l} at pixel ${i} is outside 0..${c - 1} and not ${IGNORE_LABEL}`);
      if (p < 0 || p >= c) throw new Error(`confusion matrix: prediction ${p} at pixel ${i} is outside 0..${c - 1}`);
      this.counts[l * c + p]!++;
    }
  }

  merge(other: ConfusionMatrix): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
  }

  /** IoU per class; NaN where the class never occurs in labels or predictions. */
  iou(): number[] {
    const c = this.classes;
    return Array.from({ length: c }, (_, k) => {
      let tp = 0;
      let rowSum = 0;
      let colSum = 0;
      for (let j = 0; j < c; j++) {
        rowSum += this.counts[k * c + j]!;
        colSum += this.counts[j * c + k]!;
      }
      tp = this.counts[k * c + k]!;
      const union = rowSum + colSum - tp;
      return union > 0 ? tp / union : NaN;
    });
  }

  /** Mean IoU over classes with a non-empty union (in [0, 1]). */
  miou(): number {
    const valid = this.iou().filter((v) => !Number.isNaN(v));
    return valid.length ? valid.reduce((a, b) => a + b, 0) / valid.length : NaN;
  }

  /** Pixels per true class (the row sums). */
  labelHistogram(): Float64Array {
    const c = this.classes;
    const h = new Float64Array(c);
    for (let l = 0; l < c; l++) for (let p = 0; p < c; p++) h[l]! += this.counts[l * c + p]!;
    return h;
  }

  pixelAccuracy(): number {
    let correct = 0;
    let total = 0;
    for (let k = 0; k < this.classes; k++) correct += this.counts[k * this.classes + k]!;
    for (const v of this.counts) total += v;
    return total > 0 ? correct / total : NaN;
  }
}

/** The best constant prediction on a set: what a model that learnt nothing from the image can score. */
export interface TrivialLevels {
  /** mIoU of the constant class that maximises it, and that class. */
  miou: number;
  miouClass: number;
  /** Pixel accuracy of the constant class that maximises it (the majority class), and that class. */
  pixelAccuracy: number;
  pixelAccuracyClass: number;
}

/**
 * Trivial levels from the label histogram (pixels per class, ignored pixels left out): each constant
 * prediction is scored with the same ConfusionMatrix definitions as a model, so a constant class absent
 * from the labels counts as a class with IoU 0. With mIoU over classes of non-empty union both optima
 * are the majority class; each is found by its own search so that this is checked, not assumed.
 */
export function trivialLevels(labelHistogram: ArrayLike<number>): TrivialLevels {
  const c = labelHistogram.length;
  let best: TrivialLevels = { miou: -Infinity, miouClass: -1, pixelAccuracy: -Infinity, pixelAccuracyClass: -1 };
  for (let k = 0; k < c; k++) {
    const constant = new ConfusionMatrix(c);
    for (let l = 0; l < c; l++) constant.counts[l * c + k] = labelHistogram[l]!;
    const miou = constant.miou();
    const pixelAccuracy = constant.pixelAccuracy();
    if (miou > best.miou) best = { ...best, miou, miouClass: k };
    if (pixelAccuracy > best.pixelAccuracy) best = { ...best, pixelAccuracy, pixelAccuracyClass: k };
  }
  if (best.miouClass < 0) throw new Error('trivialLevels: the label histogram has no pixels');
  return best;
}

/** A per-class table, IoU in percent, for the terminal. */
export function formatIouTable(names: readonly string[], iou: readonly number[], miou: number, pixelAccuracy: number): string {
  const width = Math.max(10, ...names.map((n) => n.length));
  const rows = names.map((n, k) => `  ${n.padEnd(width)} ${Number.isNaN(iou[k]!) ? '     –' : (100 * iou[k]!).toFixed(2).padStart(6)}`);
  return [
    `  ${'class'.padEnd(width)}    IoU`,
    ...rows,
    `  ${'mIoU'.padEnd(width)} ${(100 * miou).toFixed(2).padStart(6)}`,
    `  ${'pixel acc'.padEnd(width)} ${(100 * pixelAccuracy).toFixed(2).padStart(6)}`,
  ].join('\n');
}
