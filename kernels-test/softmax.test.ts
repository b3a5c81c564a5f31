import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { softmax, logSoftmax, mul, sumAll } from '../src/ops/index.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';
import { softmaxRef, softmaxGradRef } from './ref/softmax.js';

useGpu();

const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);
const TOL = { atol: 1e-6, rtol: 1e-5 };

// [shape, axis] covering each kernel: scalar strided (last axis of odd length, the class axis of NCHW
// logits with H·W odd, the first axis, a 1-long axis), a workgroup per row (few long rows, length not a
// multiple of 256), vec4 rows (length a multiple of 4, many rows), vec4 along inner (H·W a multiple of 4).
const cases: [number[], number][] = [
  [[5, 7], -1],
  [[2, 19, 3, 5], 1],
  [[4, 3, 2], 0],
  [[6, 1], -1],
  [[3, 1000], -1],
  [[5, 8], -1],
  [[130, 300], -1],
  [[2, 19, 3, 4], 1],
  [[3, 4, 8], 0],
];

describe.each([
  ['softmax', softmax, false],
  ['logSoftmax', logSoftmax, true],
] as const)('%s', (name, op, log) => {
  test.each(cases)('forward and backward against float64, shape %j axis %d', async (shape, axis) => {
    const ax = axis < 0 ? axis + shape.length : axis;
    // Large offsets: an unstable exp would overflow.
    const x = randn(size(shape), 1, 3).map((v, i) => v + (i % 3) * 40);
    const g = randn(size(shape), 2);
    const [y, dx] = await scopeAsync(async () => {
      const tx = Tensor.from(x, shape);
      tx.requiresGrad = true;
      const out = op(tx, axis);
      backward(sumAll(mul(out, Tensor.from(g, shape))));
      return [await out.read(), await tx.grad!.read()];
    });
    expectClose(y!, softmaxRef(x, shape, ax, log), { atol: 1e-5, rtol: 1e-5 }, `${name} forward`);
    expectClose(dx!, softmaxGradRef(x, g, shape, ax, log), { atol: 1e-5, rtol: 1e-4 }, `${name} backward`);
  });

  test('finite differences along axis 1 and the last axis', async () => {
    await gradCheck((t) => op(t, 1), [{ data: randn(24, 3), shape: [2, 3, 4] }], { eps: 1e-2 });
    await gradCheck((t) => op(t, 1), [{ data: randn(30, 5), shape: [2, 3, 5] }], { eps: 1e-2 });
    await gradCheck((t) => op(t), [{ data: randn(24, 6), shape: [3, 8] }], { eps: 1e-2 });
    await gradCheck((t) => op(t), [{ data: randn(300, 4), shape: [1, 300] }], { eps: 1e-2 });
  });

  test('default axis is the last', async () => {
    const x = randn(12, 5);
    const got = await scope(() => op(Tensor.from(x, [3, 4]))).read();
    expectClose(got, softmaxRef(x, [3, 4], 1, log), TOL, name);
  });

  test('axis out of range is an error', () => {
    expect(() => scope(() => op(Tensor.from([1, 2], [2]), 1))).toThrow(/axis 1 out of range for rank 1/);
    expect(() => scope(() => op(Tensor.from([1, 2], [2]), -2))).toThrow(/out of range/);
  });
});
