import { join } from 'node:path';
import { balancedLabels, clsSample, CLS_SPLITS, DEFAULT_DIGITS_CLS, loadDigitsClsTask, splitPlan, type DigitsClsConfig, type DigitsClsTask } from '../src/data/digits-cls.js';
import { loadMnist } from '../src/data/digits.js';
import { Rng } from '../src/data/rng.js';
import { dataCacheFixture } from './data-fixtures.js';

const cache = dataCacheFixture();
const SMALL = { size: 32, trainSyn: 20, valSyn: 10, valReal: 20, testReal: 30 };

function build(config: Partial<DigitsClsConfig>): DigitsClsTask {
  cache.freshCache('digits-cls');
  return loadDigitsClsTask({ ...config, photoDir: cache.photoDir() });
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
const imageKey = (img: Uint8Array) => Buffer.from(img.buffer, img.byteOffset, img.length).toString('base64');

let task: DigitsClsTask;
beforeAll(() => {
  task = build({ ...SMALL, seed: 2 });
}, 120_000);

test('same seed → identical images and labels; another seed → different ones', () => {
  const again = build({ ...SMALL, seed: 2 });
  const other = build({ ...SMALL, seed: 3 });
  expect(again.cacheDir).not.toBe(task.cacheDir);
  for (const s of CLS_SPLITS) {
    expect([s, task[s].count, task[s].height, task[s].width, task[s].images.length, task[s].labels.length]).toEqual([s, SMALL[s], 32, 32, SMALL[s] * 32 * 32 * 3, SMALL[s]]);
    expect([s, same(again[s].images, task[s].images) && same(again[s].labels, task[s].labels)]).toEqual([s, true]);
    expect([s, same(other[s].images, task[s].images)]).toEqual([s, false]);
  }
  // Read back from the cache: the same arrays.
  process.env.CSG_CACHE_DIR = join(task.cacheDir, '..');
  const cached = loadDigitsClsTask({ ...SMALL, seed: 2, photoDir: cache.photoDir() });
  expect(cached.cacheDir).toBe(task.cacheDir);
  expect(same(cached.testReal.images, task.testReal.images) && same(cached.testReal.labels, task.testReal.labels)).toBe(true);
});

test('labels are digits 0–9, balanced: every class equally often in each split (to within one)', () => {
  expect(task.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  for (const s of CLS_SPLITS) {
    const counts = new Array(10).fill(0);
    for (const l of task[s].labels) counts[l]++;
    expect([s, counts.reduce((a, b) => a + b, 0)]).toEqual([s, SMALL[s]]);
    expect([s, counts]).toEqual([s, new Array(10).fill(SMALL[s] / 10)]);
  }
  const odd = balancedLabels(25, new Rng(1));
  const counts = new Array(10).fill(0);
  for (const l of odd) counts[l]++;
  expect(Math.max(...counts) - Math.min(...counts)).toBe(1);
  expect(odd.every((l) => l >= 0 && l <= 9)).toBe(true);
});

test('real-val shows MNIST train digits and real-test MNIST t10k digits, each at most once, with their labels', () => {
  for (const [name, source] of [['valReal', 'train'], ['testReal', 't10k']] as const) {
    const mnist = loadMnist(source);
    const plan = splitPlan({ ...DEFAULT_DIGITS_CLS, ...SMALL, seed: 2 }, name, mnist);
    expect(Array.from(plan.labels)).toEqual(Array.from(task[name].labels));
    const idx = Array.from(plan.mnistIndex!);
    expect(new Set(idx).size).toBe(idx.length);
    expect(idx.every((i, k) => i >= 0 && i < mnist.count && mnist.labels[i] === plan.labels[k])).toBe(true);
  }
  // A split asking for more digits of a class than its source has is refused, naming it.
  expect(() => splitPlan({ ...DEFAULT_DIGITS_CLS, testReal: 9000 }, 'testReal', loadMnist('t10k'))).toThrow(/digits-cls: testReal needs more than the \d+ MNIST t10k images of digit \d/);
});

test('no image appears in two splits, and none is flat (a digit in contrast or a textured photo)', () => {
  const seen = new Map<string, string>();
  for (const s of CLS_SPLITS) {
    for (let i = 0; i < task[s].count; i++) {
      const { image, width, height, label } = clsSample(task[s], i);
      expect([width, height, image.length, label]).toEqual([32, 32, 32 * 32 * 3, task[s].labels[i]]);
      const key = imageKey(image);
      expect([s, i, seen.get(key)]).toEqual([s, i, undefined]);
      seen.set(key, `${s}/${i}`);
      let lo = 255;
      let hi = 0;
      for (const v of image) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      expect([s, i, hi - lo > 60]).toEqual([s, i, true]);
    }
  }
});

test('the size is a parameter; bad configurations are explained', () => {
  const big = build({ size: 72, trainSyn: 10, valSyn: 0, valReal: 0, testReal: 10 });
  expect([big.trainSyn.height, big.testReal.width, big.testReal.images.length, big.valSyn.count]).toEqual([72, 72, 10 * 72 * 72 * 3, 0]);
  expect(() => build({ size: 8 })).toThrow(/digits-cls: size 8 must be an integer in 16..1024/);
  expect(() => build({ valReal: 2.5 })).toThrow(/digits-cls: valReal count 2.5 must be a non-negative integer/);
});
