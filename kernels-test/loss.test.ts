import { Tensor, scope, scopeAsync, sizeOf as size } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { crossEntropy, validateLabels, scale } from '../src/ops/index.js';
import { useGpu, rng, randn, expectClose, gradCheck, type NCHW } from './helpers.js';
import { crossEntropyRef } from './ref/loss.js';

useGpu();

function labelsFor([n, c, h, w]: NCHW, seed: number, ignoredShare: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n * h * w }, () => (r() < ignoredShare ? 255 : Math.floor(r() * c)));
}

/** Loss and the gradient of upstream·loss with respect to the logits. */
async function lossAndGrad(logits: ArrayLike<number>, shape: NCHW, labels: number[], upstream = 1, ignoreIndex = 255) {
  return scopeAsync(async () => {
    const x = Tensor.from(logits, shape);
    x.requiresGrad = true;
    const loss = crossEntropy(x, Tensor.from(labels, [shape[0], shape[2], shape[3]], 'i32'), ignoreIndex);
    expect(loss.shape).toEqual([]);
    const value = await loss.item();
    backward(scale(loss, upstream));
    const g = await x.grad!.read();
    x.grad!.dispose();
    return { value, g };
  });
}

describe('crossEntropy against the float64 reference', () => {
  // Segmentation logits scaled down (19 classes), odd sizes, a pixel count above one workgroup.
  const cases: [NCHW, number][] = [
    [[2, 19, 9, 11], 0.2],
    [[1, 3, 5, 7], 0],
    [[3, 5, 13, 17], 0.5],
    [[1, 1, 4, 4], 0.25],
  ];
  for (const [shape, ignoredShare] of cases) {
    test(`${JSON.stringify(shape)} with ${ignoredShare * 100}% ignored: loss and gradient`, async () => {
      const logits = randn(size(shape), 100, 3);
      const labels = labelsFor(shape, 101, ignoredShare);
      const got = await lossAndGrad(logits, shape, labels, 0.7);
      const ref = crossEntropyRef(logits, shape, labels);
      expectClose([got.value], [ref.loss], { atol: 1e-6, rtol: 1e-5 }, 'loss');
      expectClose(got.g, ref.grad.map((v) => 0.7 * v), { atol: 1e-7, rtol: 1e-4 }, 'gradient');
    });
  }

  test('large logits stay finite (log-sum-exp is shifted by the max)', async () => {
    const shape: NCHW = [1, 4, 2, 3];
    const logits = randn(size(shape), 102, 1).map((v) => 80 * v + 200);
    const labels = labelsFor(shape, 103, 0);
    const got = await lossAndGrad(logits, shape, labels);
    const ref = crossEntropyRef(logits, shape, labels);
    expectClose([got.value], [ref.loss], { atol: 1e-3, rtol: 1e-5 }, 'loss');
    expectClose(got.g, ref.grad, { atol: 1e-6, rtol: 1e-4 }, 'gradient');
  });

  test('another ignore index', async () => {
    const shape: NCHW = [1, 3, 3, 3];
    const logits = randn(size(shape), 104);
    const labels = [0, 1, 2, -1, -1, 0, 1, 2, -1];
    const got = await lossAndGrad(logits, shape, labels, 1, -1);
    const ref = crossEntropyRef(logits, shape, labels, -1);
    expectClose([got.value], [ref.loss], { atol: 1e-6, rtol: 1e-5 }, 'loss');
    expectClose(got.g, ref.grad, { atol: 1e-7, rtol: 1e-4 }, 'gradient');
  });

  test('every pixel ignored gives 0 and a zero gradient, not NaN', async () => {
    const shape: NCHW = [2, 3, 4, 5];
    const got = await lossAndGrad(randn(size(shape), 105), shape, new Array(40).fill(255));
    expect(got.value).toBe(0);
    expect(Array.from(got.g).every((v) => v === 0)).toBe(true);
  });

  test('classification logits [N, C] with labels [N]: the 1×1 case of the reference', async () => {
    const shape: NCHW = [6, 10, 1, 1];
    const logits = randn(size(shape), 109, 2);
    const labels = [3, 0, 9, 255, 4, 4];
    const got = await scopeAsync(async () => {
      const x = Tensor.from(logits, [6, 10]);
      x.requiresGrad = true;
      const loss = crossEntropy(x, Tensor.from(labels, [6], 'i32'));
      const value = await loss.item();
      backward(loss);
      const g = await x.grad!.read();
      x.grad!.dispose();
      return { value, g };
    });
    const ref = crossEntropyRef(logits, shape, labels);
    expectClose([got.value], [ref.loss], { atol: 1e-6, rtol: 1e-5 }, 'loss');
    expectClose(got.g, ref.grad, { atol: 1e-7, rtol: 1e-4 }, 'gradient');
  });

  test('gradient by finite differences', async () => {
    const shape: NCHW = [2, 4, 3, 3];
    const labels = Tensor.from(labelsFor(shape, 106, 0.3), [2, 3, 3], 'i32').keep();
    await gradCheck((x) => crossEntropy(x, labels), [{ data: randn(size(shape), 107), shape }], { eps: 1e-2, atol: 2e-3 });
    labels.dispose();
  });
});

describe('crossEntropy bad input', () => {
  test('label shape, label dtype, logits rank', () => {
    scope(() => {
      const logits = Tensor.empty([2, 3, 4, 5]);
      expect(() => crossEntropy(logits, Tensor.empty([2, 4, 4], 'i32'))).toThrow(/labels \[2, 4, 4\] do not match logits \[2, 3, 4, 5\]/);
      expect(() => crossEntropy(logits, Tensor.empty([2, 4, 5], 'f32'))).toThrow(/labels: expected a i32 tensor/);
      expect(() => crossEntropy(Tensor.empty([2, 3, 4]), Tensor.empty([2, 4], 'i32'))).toThrow(/expected NCHW or \[N, C\] logits/);
      expect(() => crossEntropy(Tensor.empty([2, 3]), Tensor.empty([2, 1, 1], 'i32'))).toThrow(/labels \[2, 1, 1\] do not match logits \[2, 3\] \(expected \[2\]\)/);
    });
  });

  test('a label outside [0, C) poisons the loss with NaN, and validateLabels names it', async () => {
    const shape: NCHW = [1, 3, 2, 2];
    const labels = [0, 7, 255, 1];
    const got = await lossAndGrad(randn(size(shape), 108), shape, labels);
    expect(Number.isNaN(got.value)).toBe(true);
    await scopeAsync(async () => {
      const t = Tensor.from(labels, [1, 2, 2], 'i32');
      await expect(validateLabels(t, 3)).rejects.toThrow(/label 7 at flat index 1 .* outside \[0, 3\)/);
      await expect(validateLabels(Tensor.from([0, 2, 255, 1], [1, 2, 2], 'i32'), 3)).resolves.toBeUndefined();
    });
  });
});
