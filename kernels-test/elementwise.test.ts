import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { add, sub, mul, div, scale, relu, exp, log, addScalar, fill } from '../src/ops/index.js';
import { gpu } from '../src/gpu/index.js';
import { useGpu, randn, uniform, expectClose, gradCheck } from './helpers.js';
import { broadcastRef, unaryRef } from './ref/elementwise.js';

useGpu();

const binary = [
  ['add', add, (x: number, y: number) => x + y],
  ['sub', sub, (x: number, y: number) => x - y],
  ['mul', mul, (x: number, y: number) => x * y],
  ['div', div, (x: number, y: number) => x / y],
] as const;

// Shapes the models need: same shape, per-channel bias on NCHW, scalar, row vector; odd sizes.
const shapePairs: [number[], number[]][] = [
  [[3, 5, 7], [3, 5, 7]],
  [[2, 3, 4, 5], [1, 3, 1, 1]],
  [[2, 3, 4, 5], [5]],
  [[4, 1], [1, 6]],
  [[7, 3], []],
  [[1000], [1000]],
];

describe('binary elementwise ops with broadcasting', () => {
  for (const [name, op, ref] of binary) {
    for (const [sa, sb] of shapePairs) {
      test(`${name} ${JSON.stringify(sa)} ∘ ${JSON.stringify(sb)} forward`, async () => {
        const na = sa.reduce((p, d) => p * d, 1);
        const nb = sb.reduce((p, d) => p * d, 1);
        const a = randn(na, 1);
        const b = name === 'div' ? uniform(nb, 2, 0.5, 2) : randn(nb, 2);
        const got = await scope(() => op(Tensor.from(a, sa), Tensor.from(b, sb))).read();
        const { data } = broadcastRef(a, sa, b, sb, ref);
        expectClose(got, data, { atol: 1e-6, rtol: 1e-5 }, name);
      });
    }
    test(`${name} gradient by finite differences (broadcast)`, async () => {
      const b = name === 'div' ? uniform(4, 3, 0.5, 2) : randn(4, 3);
      await gradCheck((x, y) => op(x, y), [{ data: randn(12, 4), shape: [3, 4] }, { data: b, shape: [4] }]);
    });
  }
});

describe('unary ops', () => {
  const cases = [
    ['relu', relu, (x: number) => Math.max(x, 0), randn(300, 5)],
    ['exp', exp, Math.exp, randn(300, 6)],
    ['log', log, Math.log, uniform(300, 7, 0.1, 3)],
    ['scale', (t: Tensor) => scale(t, -2.5), (x: number) => -2.5 * x, randn(300, 8)],
    ['addScalar', (t: Tensor) => addScalar(t, 0.75), (x: number) => x + 0.75, randn(300, 9)],
  ] as const;
  for (const [name, op, ref, data] of cases) {
    test(`${name} forward and gradient`, async () => {
      const got = await scope(() => op(Tensor.from(data, [3, 100]))).read();
      expectClose(got, unaryRef(data, ref), { atol: 1e-6, rtol: 1e-5 }, name);
      // Keep relu's finite differences away from its kink.
      const small = name === 'relu' ? Array.from(data.slice(0, 20), (v) => (Math.abs(v) < 0.05 ? 0.5 : v)) : data.slice(0, 20);
      await gradCheck((x) => op(x), [{ data: small, shape: [4, 5] }]);
    });
  }
});

describe('vec4 and scalar paths', () => {
  // Sizes that are and are not multiples of 4 take different kernels; both must agree with the reference.
  test.each([7, 8, 1023, 4096, 32772])('size %d, unary and same-shape binary', async (n) => {
    const x = randn(n, 11);
    const y = randn(n, 12);
    const [e, s] = await scopeAsync(async () => [await exp(Tensor.from(x, [n])).read(), await sub(Tensor.from(x, [n]), Tensor.from(y, [n])).read()]);
    expectClose(e!, unaryRef(x, Math.exp), { atol: 1e-6, rtol: 1e-5 }, 'exp');
    expectClose(s!, broadcastRef(x, [n], y, [n], (p, q) => p - q).data, { atol: 1e-6, rtol: 1e-5 }, 'sub');
  });
});

describe('fill', () => {
  // ResNet-101's SGD momentum (192 MiB) is larger than one storage binding on lavapipe (128 MiB).
  test('a tensor larger than one storage binding is filled to its last element', async () => {
    const n = gpu().device.limits.maxStorageBufferBindingSize / 4 + 4099;
    const t = fill([n], 2.5);
    const got = await t.read();
    t.dispose();
    const wrong = got.findIndex((v) => v !== 2.5);
    expect(wrong).toBe(-1);
    expect(got.length).toBe(n);
  }, 60_000);
});

describe('bad input', () => {
  test('shapes that do not broadcast', () => {
    expect(() => scope(() => add(Tensor.from([1, 2, 3], [3]), Tensor.from([1, 2], [2])))).toThrow(/do not broadcast/);
  });
  test('wrong dtype', () => {
    expect(() => scope(() => relu(Tensor.from([1, 2], [2], 'i32')))).toThrow(/expected a f32 tensor/);
  });
  test('use after dispose', () => {
    const t = Tensor.from([1, 2], [2]);
    t.dispose();
    expect(() => relu(t)).toThrow(/used after dispose/);
  });
  test('data that does not fill the shape', () => {
    expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrow(/do not fill shape/);
  });
});
