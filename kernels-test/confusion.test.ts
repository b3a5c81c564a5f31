import { ConfusionMatrix, formatIouTable } from '../src/eval/confusion.js';

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
