// The conv forward keeps its packed weights with the weight (Tensor.derived) until the weight is
// written. Pins: an unchanged weight is packed once; every way a weight is written (a CPU write, a
// GPU copy as when loading another module's state, SGD, the EMA) makes the next forward repack, so
// it equals a forward on a fresh copy of the new weights, for every conv variant; and off the tape,
// ASPP-style live taps are taken from the weight once rather than copied out per call.
import { gpu } from '../src/gpu/index.js';
import { Tensor, scope } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { conv2d, convVariants, type Conv2dOptions } from '../src/ops/index.js';
import { emaUpdate, Sgd } from '../src/csg/index.js';
import { useGpu, randn } from './helpers.js';

useGpu();

const X_SHAPE = [2, 8, 6, 6];
const W_SHAPE = [12, 8, 3, 3];
const OPTIONS: Conv2dOptions = { padding: 1 };
const values = (n: number, seed: number) => Float32Array.from(randn(n, seed));
const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The forward with `weight`, and the same forward on a fresh copy of its current values (packed anew). */
async function forwardAndFresh(x: Tensor, weight: Tensor): Promise<[Float32Array, Float32Array]> {
  const y = await noGrad(() => scope(() => conv2d(x, weight, null, OPTIONS))).readFloat32();
  const copy = Tensor.from(await weight.readFloat32(), weight.shape);
  const fresh = await noGrad(() => scope(() => conv2d(x, copy, null, OPTIONS))).readFloat32();
  copy.dispose();
  return [y, fresh];
}

/** Dispatches one forward records. */
function dispatchesOf(fn: () => void): number {
  const before = gpu().encoder.dispatchCount;
  fn();
  return gpu().encoder.dispatchCount - before;
}

describe.each(['tall', 'regblock', 'panel', 'tiled'])('conv variant %s', (variant) => {
  beforeAll(() => void (process.env.CSG_CONV_VARIANT = variant));
  afterAll(() => void delete process.env.CSG_CONV_VARIANT);

  test('an unchanged weight is packed once; every kind of write makes the next forward repack', async () => {
    if (!convVariants().includes(variant as never)) return; // all but tiled need 8-lane subgroups (every test device here has them)
    const x = Tensor.from(values(count(X_SHAPE), 1), X_SHAPE);
    const weight = Tensor.from(values(count(W_SHAPE), 2), W_SHAPE);
    weight.requiresGrad = true;
    // Made first: packing the weight into the optimisers' arena moves it (a write of its own).
    const sgd = new Sgd([{ params: [weight], lr: 0.1 }]);
    const query = Tensor.from(values(weight.size, 6), W_SHAPE);
    const forward = () => noGrad(() => scope(() => void conv2d(x, weight, null, OPTIONS)));
    const first = dispatchesOf(forward);
    expect(dispatchesOf(forward)).toBeLessThan(first);
    const writes: [string, () => void][] = [
      ['Tensor.write (loading a state dict)', () => weight.write(values(weight.size, 3))],
      ['copyFrom (copyStateFrom, syncTeacher)', () => weight.copyFrom(Tensor.from(values(weight.size, 4), W_SHAPE))],
      [
        'SGD',
        () => {
          weight.grad = Tensor.from(values(weight.size, 5), W_SHAPE);
          sgd.step([0.1]);
          weight.grad.dispose();
          weight.grad = null;
        },
      ],
      ['EMA', () => emaUpdate([weight], [query], 0.5)],
    ];
    let previous = await noGrad(() => scope(() => conv2d(x, weight, null, OPTIONS))).readFloat32();
    for (const [what, write] of writes) {
      write();
      const [y, fresh] = await forwardAndFresh(x, weight);
      expect({ what, changed: y.some((v, i) => v !== previous[i]) }).toEqual({ what, changed: true });
      expect({ what, equal: y.every((v, i) => v === fresh[i]) }).toEqual({ what, equal: true });
      previous = y;
    }
    sgd.dispose();
    for (const t of [x, weight, query]) t.dispose();
  });
});

test('off the tape, live taps are taken from the weight once per version of it, and follow its writes', async () => {
  // Dilation 4 on a 3×3 map: only the centre tap reads the image.
  const shape = [1, 16, 3, 3];
  const wShape = [8, 16, 3, 3];
  const x = Tensor.from(values(count(shape), 7), shape);
  const weight = Tensor.from(values(count(wShape), 8), wShape);
  weight.requiresGrad = true;
  const options = { padding: 4, dilation: 4 };
  const forward = () => noGrad(() => scope(() => void conv2d(x, weight, null, options)));
  const first = dispatchesOf(forward);
  expect(dispatchesOf(forward)).toBeLessThan(first);
  const centre = async () => {
    const w = await weight.readFloat32();
    const taps = Tensor.from(Float32Array.from({ length: 8 * 16 }, (_, i) => w[i * 9 + 4]!), [8, 16, 1, 1]);
    const y = await noGrad(() => scope(() => conv2d(x, taps, null))).readFloat32();
    taps.dispose();
    return y;
  };
  expect(await noGrad(() => scope(() => conv2d(x, weight, null, options))).readFloat32()).toEqual(await centre());
  weight.write(values(weight.size, 9));
  expect(await noGrad(() => scope(() => conv2d(x, weight, null, options))).readFloat32()).toEqual(await centre());
  x.dispose();
  weight.dispose();
});
