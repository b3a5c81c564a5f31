import { ConfusionMatrix, formatIouTable, trivialLevels } from '../src/eval/confusion.js';

// Hand-countable 3-class example: IoU from counted tp, fp, fn.
describe('confusion matrix and mIoU', () => {
  test('IoU, mIoU and pixel accuracy of a small example, 255 ignored', () => {
    const m = new ConfusionMatrix(3);
    const label = [0, 0, 0, 1, 1, 2, 255, 255];
    const pred = [0, 0, 1, 1, 2, 2, 0, 1];
    m.add(pred, label);
    // class 0: tp 2, fn 1, fp 0 → 2/3; class 1: tp 1, fn 1, fp 1 → 1/3; class 2: tp 1, fn 0, fp 1 → 1/2
    const iou = m.iou();
    expect(iou[0]).toBeCloseTo(2 / 3, 12);
    expect(iou[1]).toBeCloseTo(1 / 3, 12);
    expect(iou[2]).toBeCloseTo(1 / 2, 12);
    expect(m.miou()).toBeCloseTo((2 / 3 + 1 / 3 + 1 / 2) / 3, 12);
    expect(m.pixelAccuracy()).toBeCloseTo(4 / 6, 12);
  });
  test('a class absent from labels and predictions is left out of the mean', () => {
    const m = new ConfusionMatrix(3);
    m.add([0, 1, 1], [0, 1, 1]);
    expect(Number.isNaN(m.iou()[2]!)).toBe(true);
    expect(m.miou()).toBe(1);
    expect(formatIouTable(['a', 'b', 'c'], m.iou(), m.miou(), m.pixelAccuracy())).toMatch(/c\s+–/);
  });
  test('sums over several images', () => {
    const a = new ConfusionMatrix(2);
    a.add([0, 1], [0, 0]);
    a.add([1], [1]);
    expect(Array.from(a.counts)).toEqual([1, 1, 0, 1]);
  });
  test('bad input is reported with its position', () => {
    const m = new ConfusionMatrix(2);
    expect(() => m.add([0, 1], [0])).toThrow(/2 predictions for 1 labels/);
    expect(() => m.add([0, 0], [0, 7])).toThrow(/label 7 at pixel 1/);
  });
});

describe('trivial levels (best constant prediction)', () => {
  test('from a 2-class histogram: the majority class for both, scored like a model', () => {
    // 75 background, 25 stroke: all-background gives IoU 0.75 and 0 → mIoU 0.375, pixel acc 0.75.
    const t = trivialLevels([75, 25]);
    expect(t.miouClass).toBe(0);
    expect(t.miou).toBeCloseTo(0.375, 12);
    expect(t.pixelAccuracyClass).toBe(0);
    expect(t.pixelAccuracy).toBeCloseTo(0.75, 12);
  });
  test('equals the metrics of an actual constant prediction through the confusion matrix', () => {
    const label = [0, 0, 0, 1, 1, 2, 255, 2, 2, 2];
    const m = new ConfusionMatrix(3);
    m.add(label.map(() => 0), label);
    expect(Array.from(m.labelHistogram())).toEqual([3, 2, 4]);
    const t = trivialLevels(m.labelHistogram());
    // all 2: IoU 4/9 for class 2, 0 for classes 0 and 1 → mIoU 4/27; pixel acc 4/9.
    expect(t.miouClass).toBe(2);
    expect(t.miou).toBeCloseTo(4 / 27, 12);
    expect(t.pixelAccuracy).toBeCloseTo(4 / 9, 12);
    const constant = new ConfusionMatrix(3);
    constant.add(label.map((l) => (l === 255 ? 0 : 2)), label);
    expect(t.miou).toBeCloseTo(constant.miou(), 12);
  });
  test('a constant class absent from the labels scores 0 and is never chosen; no pixels is an error', () => {
    // Predicting the absent class 2 adds a class of IoU 0 (and zeroes the others): mIoU 0.
    const t = trivialLevels([4, 6, 0]);
    expect(t.miouClass).toBe(1);
    expect(t.miou).toBeCloseTo(0.6 / 2, 12);
    expect(t.pixelAccuracyClass).toBe(1);
    expect(trivialLevels([0, 10, 0]).miou).toBe(1);
    expect(() => trivialLevels([0, 0])).toThrow(/no pixels/);
  });
});
