import { Tensor, scope, scopeAsync, sizeOf as size } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { batchNorm2d, l2Normalize, mul, sumAll } from '../src/ops/index.js';
import { useGpu, randn, uniform, expectClose, gradCheck, numericGradient, dotWith, gpuGrad, type NCHW } from './helpers.js';
import { batchNormRef, batchNormBackwardRef, l2NormalizeRef } from './ref/norm.js';

useGpu();

// ResNet-like channel counts scaled down, odd spatial sizes, and more than 256 values per channel.
const shapes: NCHW[] = [
  [2, 4, 5, 7],
  [1, 3, 1, 3],
  [2, 16, 17, 19],
  [3, 5, 9, 11],
];

async function runBatchNorm(shape: NCHW, training: boolean, seed: number) {
  const c = shape[1];
  const x = randn(size(shape), seed, 2);
  for (let i = 0; i < x.length; i++) x[i] += 0.5 * (Math.floor(i / (shape[2] * shape[3])) % c);
  const weight = uniform(c, seed + 1, 0.5, 1.5);
  const bias = randn(c, seed + 2);
  const rm = randn(c, seed + 3, 0.3);
  const rv = uniform(c, seed + 4, 0.5, 2);
  const dy = randn(size(shape), seed + 5);
  const got = await scopeAsync(async () => {
    const tx = Tensor.from(x, shape);
    const tw = Tensor.from(weight, [c]);
    const tb = Tensor.from(bias, [c]);
    const trm = Tensor.from(rm, [c]);
    const trv = Tensor.from(rv, [c]);
    for (const t of [tx, tw, tb]) t.requiresGrad = true;
    const out = batchNorm2d(tx, tw, tb, trm, trv, { training });
    const outData = await out.read();
    backward(sumAll(mul(out, Tensor.from(dy, shape))));
    const result = {
      out: outData,
      rm: await trm.read(),
      rv: await trv.read(),
      dx: await tx.grad!.read(),
      dw: await tw.grad!.read(),
      db: await tb.grad!.read(),
    };
    for (const t of [tx, tw, tb]) t.grad!.dispose();
    return result;
  });
  const ref = batchNormRef(x, shape, weight, bias, rm, rv, training);
  const grads = batchNormBackwardRef(x, shape, dy, weight, ref.mean, ref.invstd, training);
  return { got, ref, grads };
}

describe('batchNorm2d against the float64 reference', () => {
  for (const training of [true, false]) {
    for (const shape of shapes) {
      test(`${training ? 'training' : 'frozen'} ${JSON.stringify(shape)}: forward, running stats, gradients`, async () => {
        const { got, ref, grads } = await runBatchNorm(shape, training, 11);
        expectClose(got.out, ref.out, { atol: 2e-5, rtol: 1e-4 }, 'output');
        expectClose(got.rm, ref.runningMean, { atol: 1e-6, rtol: 1e-5 }, 'running mean');
        expectClose(got.rv, ref.runningVar, { atol: 1e-6, rtol: 1e-5 }, 'running var');
        expectClose(got.dx, grads.dx, { atol: 5e-5, rtol: 1e-3 }, 'grad x');
        expectClose(got.dw, grads.dWeight, { atol: 2e-4, rtol: 1e-4 }, 'grad weight');
        expectClose(got.db, grads.dBias, { atol: 2e-4, rtol: 1e-4 }, 'grad bias');
      });
    }
  }

  test('training updates the running statistics at every call (momentum 0.3)', async () => {
    const shape: NCHW = [2, 3, 4, 4];
    const x = randn(size(shape), 3);
    const got = await scopeAsync(async () => {
      const rm = Tensor.from([0, 0, 0], [3]);
      const rv = Tensor.from([1, 1, 1], [3]);
      const w = Tensor.from([1, 1, 1], [3]);
      const b = Tensor.from([0, 0, 0], [3]);
      const tx = Tensor.from(x, shape);
      batchNorm2d(tx, w, b, rm, rv, { training: true, momentum: 0.3 });
      batchNorm2d(tx, w, b, rm, rv, { training: true, momentum: 0.3 });
      return { rm: await rm.read(), rv: await rv.read() };
    });
    const once = batchNormRef(x, shape, [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1], true, 0.3);
    const twice = batchNormRef(x, shape, [1, 1, 1], [0, 0, 0], once.runningMean, once.runningVar, true, 0.3);
    expectClose(got.rm, twice.runningMean, { atol: 1e-6, rtol: 1e-5 }, 'running mean');
    expectClose(got.rv, twice.runningVar, { atol: 1e-6, rtol: 1e-5 }, 'running var');
  });
});

describe('batchNorm2d gradients by finite differences', () => {
  const shape: NCHW = [2, 3, 3, 5];
  const c = 3;
  const inputs = [
    { data: randn(size(shape), 21), shape },
    { data: uniform(c, 22, 0.5, 1.5), shape: [c] },
    { data: randn(c, 23), shape: [c] },
  ];
  for (const training of [true, false]) {
    test(`${training ? 'training' : 'frozen'} mode: x, weight and bias`, async () => {
      const rm = Tensor.from(randn(c, 24, 0.2), [c]).keep();
      const rv = Tensor.from(uniform(c, 25, 0.5, 2), [c]).keep();
      await gradCheck((x, w, b) => batchNorm2d(x, w, b, rm, rv, { training }), inputs, { eps: 1e-2, atol: 1e-2, rtol: 2e-2 });
      rm.dispose();
      rv.dispose();
    });
  }

  test('frozen affine parameters get no gradient, the input still does', async () => {
    await scopeAsync(async () => {
      const x = Tensor.from(inputs[0]!.data, shape);
      const w = Tensor.from(inputs[1]!.data, [c]);
      const b = Tensor.from(inputs[2]!.data, [c]);
      const rm = Tensor.from([0, 0, 0], [c]);
      const rv = Tensor.from([1, 1, 1], [c]);
      for (const t of [x, w, b]) t.requiresGrad = true;
      backward(sumAll(batchNorm2d(x, w, b, rm, rv, { training: false, affineGrad: false })));
      expect(w.grad).toBeNull();
      expect(b.grad).toBeNull();
      const dx = await x.grad!.read();
      // d/dx Σ out = weight·invstd per channel with running var 1.
      const expected = Array.from(dx, (_, i) => inputs[1]!.data[Math.floor(i / 15) % c]! / Math.sqrt(1 + 1e-5));
      expectClose(dx, expected, { atol: 1e-6, rtol: 1e-5 }, 'grad x');
      x.grad!.dispose();
    });
  });
});

describe('batchNorm2d bad input', () => {
  test('wrong rank, channel mismatch, dtype, one value per channel in training', () => {
    scope(() => {
      const p = Tensor.from([1, 1], [2]);
      expect(() => batchNorm2d(Tensor.from([1, 2], [1, 2]), p, p, p, p, { training: true })).toThrow(/NCHW/);
      expect(() => batchNorm2d(Tensor.empty([1, 3, 2, 2]), p, p, p, p, { training: true })).toThrow(/weight: expected shape \[3\]/);
      const q = Tensor.from([1, 1], [2], 'i32');
      expect(() => batchNorm2d(Tensor.empty([1, 2, 2, 2]), p, p, q, p, { training: true })).toThrow(/runningMean: expected a f32/);
      expect(() => batchNorm2d(Tensor.empty([1, 2, 1, 1]), p, p, p, p, { training: true })).toThrow(/more than 1 value per channel/);
    });
  });
});

describe('l2Normalize', () => {
  test('forward and backward against float64, and finite differences', async () => {
    const [n, d] = [7, 13];
    const x = randn(n * d, 1);
    x.fill(0, 13, 26); // an all-zero row: the norm clamps to eps
    const got = await scope(() => l2Normalize(Tensor.from(x, [n, d]))).read();
    expectClose(got, l2NormalizeRef(x, n, d), { atol: 1e-6, rtol: 1e-5 }, 'l2Normalize');
    const w = randn(n * d, 2);
    const ref = numericGradient((xs) => dotWith(l2NormalizeRef(xs, n, d), w), x);
    const grad = await gpuGrad((t) => l2Normalize(t), x, [n, d], w, [n, d]);
    // The zero row's gradient is g / eps (huge): compare the other rows.
    expectClose([...grad.slice(0, 13), ...grad.slice(26)], [...ref.slice(0, 13), ...ref.slice(26)], { atol: 1e-4, rtol: 1e-3 }, 'l2Normalize gradient');
    await gradCheck((t) => l2Normalize(t), [{ data: randn(5 * 6, 3), shape: [5, 6] }], { eps: 1e-3 });
  });
  test('bad input', () => {
    expect(() => scope(() => l2Normalize(Tensor.from([1, 2, 3], [3])))).toThrow(/rows \[N, D\]/);
  });
});
