import { Tensor, scope, scopeAsync, sizeOf as size } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { concat, narrow, mul, sumAll } from '../src/ops/index.js';
import { useGpu, randn, expectClose, gradCheck } from './helpers.js';
import { at, coords } from './ref/shape.js';

useGpu();

describe('concat', () => {
  // DeepLab's ASPP concat (5 branches along channels), scaled down; other axes; odd sizes.
  const cases: [number[][], number][] = [
    [[[2, 3, 5, 7], [2, 3, 5, 7], [2, 3, 5, 7], [2, 3, 5, 7], [2, 3, 5, 7]], 1],
    [[[1, 2, 3, 3], [1, 5, 3, 3]], 1],
    [[[2, 3, 4], [2, 3, 1], [2, 3, 2]], -1],
    [[[3, 5], [1, 5]], 0],
    // Few long rows: copied with buffer copies instead of the kernel.
    [[[2, 8, 16, 16], [2, 24, 16, 16]], 1],
  ];
  for (const [shapes, axis] of cases) {
    test(`${JSON.stringify(shapes)} along ${axis}: forward and split gradient`, async () => {
      // f32 data: copies must be bit-exact.
      const datas = shapes.map((s, k) => Float32Array.from(randn(size(s), 60 + k)));
      const a = axis < 0 ? axis + shapes[0]!.length : axis;
      const outShape = [...shapes[0]!];
      outShape[a] = shapes.reduce((s, sh) => s + sh[a]!, 0);
      const dy = Float32Array.from(randn(size(outShape), 70));
      const got = await scopeAsync(async () => {
        const ts = shapes.map((s, k) => Tensor.from(datas[k]!, s));
        ts.forEach((t) => (t.requiresGrad = true));
        const out = concat(ts, axis);
        expect(out.shape).toEqual(outShape);
        const outData = await out.read();
        backward(sumAll(mul(out, Tensor.from(dy, outShape))));
        const grads = [];
        for (const t of ts) {
          grads.push(await t.grad!.read());
          t.grad!.dispose();
        }
        return { out: outData, grads };
      });
      // Reference: walk the output; find which input and offset each element comes from.
      const starts = shapes.map((_, k) => shapes.slice(0, k).reduce((s, sh) => s + sh[a]!, 0));
      const expected = coords(outShape).map((c) => {
        const k = starts.filter((s) => s <= c[a]!).length - 1;
        const local = c.map((v, d) => (d === a ? v - starts[k]! : v));
        return at(datas[k]!, shapes[k]!, local);
      });
      expectClose(got.out, expected, { atol: 0, rtol: 0 }, 'output');
      shapes.forEach((s, k) => {
        const expectedGrad = coords(s).map((c) => at(dy, outShape, c.map((v, d) => (d === a ? v + starts[k]! : v))));
        expectClose(got.grads[k]!, expectedGrad, { atol: 0, rtol: 0 }, `grad of input ${k}`);
      });
    });
  }

  test('a slice of a bigger buffer concatenates from its own offset (both copy paths)', async () => {
    const shape = [2, 8, 16, 16];
    const n = size(shape);
    const data = Float32Array.from(randn(64 + n, 65));
    const other = Float32Array.from(randn(n, 66));
    const [long, short] = await scopeAsync(async () => {
      const big = Tensor.from(data, [64 + n]);
      const slice = big.slice(64, shape);
      const rows = slice.view([n / 4, 4]);
      return [await concat([slice, Tensor.from(other, shape)], 1).read(), await concat([rows, Tensor.from(other.subarray(0, n / 4), [n / 4, 1])], 1).read()];
    });
    const own = data.subarray(64);
    const plane = 8 * 16 * 16;
    const expectedLong = [0, 1].flatMap((b) => [...own.subarray(b * plane, (b + 1) * plane), ...other.subarray(b * plane, (b + 1) * plane)]);
    expectClose(long, expectedLong, { atol: 0, rtol: 0 }, 'long rows');
    const expectedShort = Array.from({ length: n / 4 }, (_, r) => [...own.subarray(4 * r, 4 * r + 4), other[r]!]).flat();
    expectClose(short, expectedShort, { atol: 0, rtol: 0 }, 'short rows');
  });
  test('gradient by finite differences', async () => {
    await gradCheck((x, y) => concat([x, y, x], 1), [
      { data: randn(2 * 2 * 3, 71), shape: [2, 2, 3] },
      { data: randn(2 * 1 * 3, 72), shape: [2, 1, 3] },
    ]);
  });

  test('integer tensors concatenate bit-exactly', async () => {
    const got = await scope(() => concat([Tensor.from([1, -2], [1, 2], 'i32'), Tensor.from([2147483647, 255], [1, 2], 'i32')], 0)).read();
    expect(Array.from(got)).toEqual([1, -2, 2147483647, 255]);
  });

  test('bad input', () => {
    scope(() => {
      expect(() => concat([], 0)).toThrow(/no tensors/);
      expect(() => concat([Tensor.empty([2, 3]), Tensor.empty([3, 3])], 1)).toThrow(/does not match/);
      expect(() => concat([Tensor.empty([2, 3]), Tensor.empty([2, 3], 'i32')], 0)).toThrow(/does not match/);
      expect(() => concat([Tensor.empty([2, 3])], 2)).toThrow(/axis 2 out of range/);
    });
  });
});

describe('narrow', () => {
  test('forward, zero-padded gradient and finite differences', async () => {
    const shape = [2, 5, 3, 3];
    const x = Float32Array.from(randn(size(shape), 80));
    const got = await scopeAsync(async () => {
      const t = Tensor.from(x, shape);
      t.requiresGrad = true;
      const out = narrow(t, 1, 1, 3);
      const outData = await out.read();
      backward(sumAll(out));
      const g = await t.grad!.read();
      t.grad!.dispose();
      return { out: outData, g };
    });
    const cs = coords(shape);
    expectClose(got.out, cs.filter((c) => c[1]! >= 1 && c[1]! < 4).map((c) => at(x, shape, c)), { atol: 0, rtol: 0 }, 'output');
    expectClose(got.g, cs.map((c) => (c[1]! >= 1 && c[1]! < 4 ? 1 : 0)), { atol: 0, rtol: 0 }, 'gradient');
    await gradCheck((t) => narrow(t, -1, 2, 2), [{ data: randn(3 * 5, 81), shape: [3, 5] }]);
  });

  test('out of range', () => {
    scope(() => {
      expect(() => narrow(Tensor.empty([2, 4]), 1, 3, 2)).toThrow(/outside axis 1/);
      expect(() => narrow(Tensor.empty([2, 4]), 1, -1, 2)).toThrow(/outside axis 1/);
    });
  });
});
