// The layer ops against reference tensors made by PyTorch 1.13 (kernels-test/fixtures/make_layers.py).
import { readFileSync } from 'node:fs';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { batchNorm2d, maxPool2d, interpolateBilinear, crossEntropy } from '../src/ops/index.js';
import { useGpu, expectClose } from './helpers.js';
import { outputAndGrad } from './layer-helpers.js';

useGpu();

type NCHW = [number, number, number, number];
interface Fixtures {
  batchNorm: {
    shape: NCHW;
    training: boolean;
    x: number[];
    weight: number[];
    bias: number[];
    runningMean: number[];
    runningVar: number[];
    dy: number[];
    out: number[];
    runningMeanAfter: number[];
    runningVarAfter: number[];
    dx: number[];
    dWeight: number[];
    dBias: number[];
  }[];
  maxPool: { shape: NCHW; kernel: number; stride: number; padding: number; x: number[]; dy: number[]; outShape: NCHW; out: number[]; dx: number[] }[];
  bilinear: { shape: NCHW; size: [number, number]; alignCorners: boolean; x: number[]; dy: number[]; out: number[]; dx: number[] }[];
  crossEntropy: { shape: NCHW; logits: number[]; labels: number[]; loss: number; dLogits: number[] }[];
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/layers.json', import.meta.url), 'utf8')) as Fixtures;

describe('batchNorm2d matches PyTorch', () => {
  for (const f of fixtures.batchNorm) {
    test(`${f.training ? 'training' : 'eval'} ${JSON.stringify(f.shape)}`, async () => {
      await scopeAsync(async () => {
        const c = f.shape[1];
        const weight = Tensor.from(f.weight, [c]);
        const bias = Tensor.from(f.bias, [c]);
        const rm = Tensor.from(f.runningMean, [c]);
        const rv = Tensor.from(f.runningVar, [c]);
        weight.requiresGrad = true;
        bias.requiresGrad = true;
        const got = await outputAndGrad((x) => batchNorm2d(x, weight, bias, rm, rv, { training: f.training }), f.x, f.shape, f.dy);
        expectClose(got.out, f.out, { atol: 1e-5, rtol: 1e-4 }, 'output');
        expectClose(await rm.read(), f.runningMeanAfter, { atol: 1e-6, rtol: 1e-5 }, 'running mean');
        expectClose(await rv.read(), f.runningVarAfter, { atol: 1e-6, rtol: 1e-5 }, 'running var');
        expectClose(got.dx, f.dx, { atol: 1e-4, rtol: 1e-3 }, 'grad x');
        expectClose(await weight.grad!.read(), f.dWeight, { atol: 1e-4, rtol: 1e-4 }, 'grad weight');
        expectClose(await bias.grad!.read(), f.dBias, { atol: 1e-4, rtol: 1e-4 }, 'grad bias');
        weight.grad!.dispose();
        bias.grad!.dispose();
      });
    });
  }
});

describe('maxPool2d matches PyTorch', () => {
  for (const f of fixtures.maxPool) {
    test(`${JSON.stringify(f.shape)} k${f.kernel} s${f.stride} p${f.padding}`, async () => {
      const got = await outputAndGrad((x) => maxPool2d(x, f), f.x, f.shape, f.dy);
      expect(got.outShape).toEqual(f.outShape);
      expectClose(got.out, Float32Array.from(f.out), { atol: 0, rtol: 0 }, 'output'); // the fixture's 9 digits round back to the exact f32
      expectClose(got.dx, f.dx, { atol: 1e-6, rtol: 1e-6 }, 'grad x');
    });
  }
});

describe('interpolateBilinear matches PyTorch', () => {
  for (const f of fixtures.bilinear) {
    test(`${JSON.stringify(f.shape)} → ${f.size.join('×')} align_corners=${f.alignCorners}`, async () => {
      const got = await outputAndGrad((x) => interpolateBilinear(x, f.size, f.alignCorners), f.x, f.shape, f.dy);
      expectClose(got.out, f.out, { atol: 1e-5, rtol: 1e-5 }, 'output');
      expectClose(got.dx, f.dx, { atol: 1e-4, rtol: 1e-4 }, 'grad x');
    });
  }
});

describe('crossEntropy matches PyTorch (ignore_index 255, mean)', () => {
  for (const f of fixtures.crossEntropy) {
    test(`${JSON.stringify(f.shape)}`, async () => {
      await scopeAsync(async () => {
        const [n, , h, w] = f.shape;
        const logits = Tensor.from(f.logits, f.shape);
        logits.requiresGrad = true;
        const loss = crossEntropy(logits, Tensor.from(f.labels, [n, h, w], 'i32'));
        expectClose([await loss.item()], [f.loss], { atol: 1e-6, rtol: 1e-5 }, 'loss');
        backward(loss);
        expectClose(await logits.grad!.read(), f.dLogits, { atol: 1e-7, rtol: 1e-4 }, 'grad logits');
        logits.grad!.dispose();
      });
    });
  }
});
