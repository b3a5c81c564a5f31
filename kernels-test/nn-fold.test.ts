// Conv → BatchNorm runs as one folded convolution in eval mode where no gradient flows (nn/layers.ts
// chain, ops/norm.ts foldBatchNorm). Pins: the folded result equals conv then norm; it follows
// writes to the conv weight and to every one of the norm's tensors (loading a state dict); in
// training mode (a frozen teacher) and on the tape nothing is folded.
import { gpu } from '../src/gpu/index.js';
import { Tensor, scope } from '../src/tensor/index.js';
import { noGrad, backward } from '../src/autograd/index.js';
import { conv2d, batchNorm2d, sumAll } from '../src/ops/index.js';
import { Conv2d, BatchNorm2d, ParamInit, Sequential } from '../src/nn/layers.js';
import { useGpu, randn, expectClose } from './helpers.js';

useGpu();

const values = (n: number, seed: number, scale = 1) => Float32Array.from(randn(n, seed, scale));

/** conv then norm, each its own op (the unfolded path), off the tape. */
function unfolded(x: Tensor, conv: Conv2d, bn: BatchNorm2d): Tensor {
  return noGrad(() =>
    scope(() => {
      const y = conv2d(x, conv.weight, conv.bias, { padding: conv.padding });
      return batchNorm2d(y, bn.weight, bn.bias, bn.runningMean, bn.runningVar, { training: false, eps: bn.eps });
    }),
  );
}

test.each([false, true])('a conv (bias %s) and a frozen norm fold into one conv that follows writes to any of their tensors', async (bias) => {
  const conv = new Conv2d(6, 10, 3, { padding: 1, bias }, new ParamInit(3));
  const bn = new BatchNorm2d(10);
  const net = new Sequential([conv, bn]).eval();
  bn.weight.write(values(10, 4, 0.5));
  bn.bias.write(values(10, 5));
  bn.runningMean.write(values(10, 6, 0.1));
  bn.runningVar.write(values(10, 7).map((v) => 0.5 + v * v));
  const x = Tensor.from(values(2 * 6 * 5 * 5, 8), [2, 6, 5, 5]);
  const writes: [string, () => void][] = [
    ['as built', () => undefined],
    ['conv weight', () => conv.weight.write(values(conv.weight.size, 9, 0.2))],
    ['norm weight', () => bn.weight.write(values(10, 10))],
    ['norm bias', () => bn.bias.write(values(10, 11))],
    ['running mean', () => bn.runningMean.write(values(10, 12))],
    ['running var', () => bn.runningVar.write(values(10, 13).map((v) => 0.1 + v * v))],
    ...(bias ? [['conv bias', () => conv.bias!.write(values(10, 14))] as [string, () => void]] : []),
  ];
  for (const [what, write] of writes) {
    write();
    const folded = await noGrad(() => scope(() => net.forward(x))).readFloat32();
    expectClose(folded, await unfolded(x, conv, bn).readFloat32(), { atol: 1e-5, rtol: 1e-4 }, `after writing the ${what}`);
  }
  // Nothing written since: the folded weights and their packing are reused, one conv dispatch is all.
  const before = gpu().encoder.dispatchCount;
  noGrad(() => scope(() => void net.forward(x)));
  expect(gpu().encoder.dispatchCount - before).toBe(1);
  x.dispose();
  net.dispose();
});

test('in training mode nothing folds, frozen norm or not: the result is exactly the unfolded one', async () => {
  const conv = new Conv2d(4, 6, 3, { padding: 1 }, new ParamInit(6));
  const bn = new BatchNorm2d(6, { frozen: true });
  bn.runningVar.write(values(6, 16).map((v) => 0.5 + v * v));
  const net = new Sequential([conv, bn]);
  const x = Tensor.from(values(4 * 16, 17), [1, 4, 4, 4]);
  const before = gpu().encoder.dispatchCount;
  const y = await noGrad(() => scope(() => net.forward(x))).readFloat32();
  expect(gpu().encoder.dispatchCount - before).toBeGreaterThan(1);
  expect(y).toEqual(await unfolded(x, conv, bn).readFloat32());
  x.dispose();
  net.dispose();
});

test('on the tape nothing folds: the gradient reaches the input through the norm', async () => {
  const conv = new Conv2d(4, 4, 1, {}, new ParamInit(5));
  const bn = new BatchNorm2d(4, { frozen: true });
  bn.runningVar.write(new Float32Array([4, 4, 4, 4]));
  const net = new Sequential([conv, bn]).eval();
  const x = Tensor.from(values(4 * 9, 15), [1, 4, 3, 3]);
  x.requiresGrad = true;
  const loss = sumAll(net.forward(x));
  backward(loss);
  // d loss / d x = Σ_o w[o, c] · γ/√(var + eps) per pixel, γ = 1, var = 4.
  const w = await conv.weight.readFloat32();
  const expected = Array.from({ length: 4 }, (_, c) => [0, 1, 2, 3].reduce((a, o) => a + w[o * 4 + c]!, 0) / Math.sqrt(4 + 1e-5));
  expectClose(await x.grad!.readFloat32(), expected.flatMap((v) => Array(9).fill(v)), { atol: 1e-5 }, 'input gradient');
  for (const t of [x, x.grad!, loss]) t.dispose();
  net.dispose();
});
