// The tape frees what no backward reads (docs/MEMORY.md, step 1): every op declares the data its
// backward rule reads (OpDef.reads), releaseIntermediate frees an intermediate's memory on the tape
// when no record reads it while the tensor stays a node of the graph, and the gradients are those of
// the same chain with nothing freed, bit for bit (the same kernels run).
import { Tensor, scope, scopeAsync, getOp, registeredOps } from '../src/tensor/index.js';
import { gpu, sizeClass } from '../src/gpu/index.js';
import { backward } from '../src/autograd/index.js';
import { add, mul, relu, reshape, sumAll } from '../src/ops/index.js';
import { BatchNorm2d, Conv2d, ParamInit, ReLU, releaseIntermediate } from '../src/nn/index.js';
import { useGpu, randn, uniform } from './helpers.js';

useGpu();

const [N, C, H, W] = [2, 8, 12, 12];

/** conv 3×3 → batch norm (frozen, with non-trivial statistics, or training) → ReLU → conv 1×1. */
function buildChain(frozen: boolean) {
  const init = new ParamInit(7);
  const conv1 = new Conv2d(C, 16, 3, { padding: 1 }, init);
  const bn = new BatchNorm2d(16, { frozen });
  bn.weight.write(uniform(16, 1, 0.5, 1.5));
  bn.bias.write(randn(16, 2, 0.1));
  bn.runningMean.write(randn(16, 3, 0.2));
  bn.runningVar.write(uniform(16, 4, 0.5, 2));
  const conv2 = new Conv2d(16, 4, 1, {}, init);
  return { conv1, bn, relu: new ReLU(), conv2, params: [conv1.weight, conv2.weight, ...(frozen ? [] : [bn.weight, bn.bias])] };
}

type Chain = ReturnType<typeof buildChain>;

/** The chain's forward as Sequential runs it, with or without releaseIntermediate after each consumer. */
function forward(m: Chain, x: Tensor, release: boolean) {
  const convOut = m.conv1.forward(x);
  const bnOut = m.bn.forward(convOut);
  if (release) releaseIntermediate(convOut, bnOut);
  const reluOut = m.relu.forward(bnOut);
  if (release) releaseIntermediate(bnOut, reluOut);
  const out = m.conv2.forward(reluOut);
  if (release) releaseIntermediate(reluOut, out);
  return { convOut, bnOut, reluOut, out };
}

interface Run {
  /** Pool bytes in use once the forward ran (before the backward), above those before it. */
  forwardBytes: number;
  /** The same once the backward ran (the gradients of the leaves included). */
  backwardBytes: number;
  grads: Float32Array[];
}

async function run(frozen: boolean, release: boolean, check?: (t: ReturnType<typeof forward>) => void): Promise<Run> {
  const m = buildChain(frozen);
  const result = await scopeAsync(async () => {
    const x = Tensor.from(randn(N * C * H * W, 11), [N, C, H, W]);
    x.requiresGrad = true;
    const before = gpu().pool.stats.bytesInUse;
    const t = forward(m, x, release);
    const forwardBytes = gpu().pool.stats.bytesInUse - before;
    check?.(t);
    // A weighted sum, so every output element carries its own gradient.
    const loss = sumAll(mul(t.out, Tensor.from(randn(t.out.size, 12), t.out.shape)));
    backward(loss);
    const backwardBytes = gpu().pool.stats.bytesInUse - before;
    const grads = await Promise.all([x, ...m.params].map((p) => p.grad!.readFloat32()));
    return { forwardBytes, backwardBytes, grads };
  });
  for (const l of [m.conv1, m.bn, m.conv2]) l.dispose();
  return result;
}

function expectSameBits(actual: Float32Array[], expected: Float32Array[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(expected[i]!.buffer))).toBe(true));
}

const mapBytes = (channels: number) => sizeClass(N * channels * H * W * 4);

describe('releaseIntermediate on the tape', () => {
  test('conv → frozen BN → ReLU → conv: the conv and BN outputs go (no backward reads them), the gradients stay bit for bit', async () => {
    const kept = await run(true, false);
    const released = await run(true, true, ({ convOut, bnOut, reluOut }) => {
      // Freed but still nodes of the graph: the backward walks through them.
      for (const t of [convOut, bnOut]) {
        expect(t.disposed).toBe(true);
        expect(t.gradFn).not.toBeNull();
        expect(t.requiresGrad).toBe(true);
        expect(() => t.binding).toThrow(new RegExp(`tensor #${t.id} \\[2, 16, 12, 12\\]: its data was read after releaseData\\(\\) freed it`));
      }
      // The ReLU's output is read by its own backward (and the second conv's): kept.
      expect(reluOut.disposed).toBe(false);
    });
    expect(kept.forwardBytes - released.forwardBytes).toBe(2 * mapBytes(16));
    // The ReLU's output goes too once its readers (the ReLU's and the second conv's backward) ran.
    expect(kept.backwardBytes - released.backwardBytes).toBe(3 * mapBytes(16));
    expectSameBits(released.grads, kept.grads);
  });

  test('a training-mode BN reads its input: the conv output is kept until the BN backward ran, the BN output goes at once', async () => {
    const kept = await run(false, false);
    const released = await run(false, true, ({ convOut, bnOut }) => {
      expect(convOut.disposed).toBe(false);
      expect(bnOut.disposed).toBe(true);
    });
    expect(kept.forwardBytes - released.forwardBytes).toBe(mapBytes(16));
    expect(kept.backwardBytes - released.backwardBytes).toBe(3 * mapBytes(16));
    expectSameBits(released.grads, kept.grads);
  });

  test('releasing a tensor a record reads keeps it until that record ran in the backward, and the gradient is right', async () => {
    const grad = await scopeAsync(async () => {
      const x = Tensor.from([-1, 2, -3, 4], [4]);
      x.requiresGrad = true;
      const y = relu(x); // relu's backward reads y
      const z = add(y, y);
      releaseIntermediate(y, z);
      expect(y.disposed).toBe(false);
      const w = mul(z, x); // mul reads both: x stays too
      releaseIntermediate(x, w);
      expect(x.disposed).toBe(false);
      backward(sumAll(w));
      expect([y.disposed, x.disposed]).toEqual([true, true]);
      return x.grad!.readFloat32();
    });
    // w = 2·relu(x)·x: dw/dx = 4x where x > 0, 0 elsewhere.
    expect([...grad]).toEqual([0, 8, 0, 16]);
  });

  test('a view keeps the storage it shares with a released tensor', async () => {
    await scopeAsync(async () => {
      const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
      x.requiresGrad = true;
      const a = add(x, x); // [2, 3], read by no backward
      const flat = reshape(a, [6]); // a view of a's storage
      const w = Tensor.from([1, -1, 2, -2, 3, -3], [6]);
      const prod = mul(flat, w); // reads the view
      const inUse = gpu().pool.stats.bytesInUse;
      releaseIntermediate(a, flat);
      expect(a.disposed).toBe(true);
      expect(flat.disposed).toBe(false);
      expect(gpu().pool.stats.bytesInUse).toBe(inUse); // the view still holds the buffer
      expect([...(await flat.readFloat32())]).toEqual([2, 4, 6, 8, 10, 12]);
      backward(sumAll(prod));
      expect([...(await x.grad!.readFloat32())]).toEqual([2, -2, 4, -4, 6, -6]);
      // The last view's release frees the buffer.
      const viewBytes = gpu().pool.stats.bytesInUse;
      flat.dispose();
      expect(viewBytes - gpu().pool.stats.bytesInUse).toBe(sizeClass(6 * 4));
    });
  });

  test('off the tape an intermediate is disposed as before', () => {
    scope(() => {
      const x = Tensor.from([1, -2], [2]);
      const y = relu(x);
      const z = relu(y);
      releaseIntermediate(y, z);
      expect(y.disposed).toBe(true);
      expect(() => y.binding).toThrow(/used after dispose/);
    });
  });
});

test('every registered op with a backward declares what it reads, with valid input positions', () => {
  const ops = registeredOps();
  expect(ops.length).toBeGreaterThan(25);
  for (const name of ops) {
    const op = getOp(name);
    if (!op.backward) continue;
    expect({ name, declared: op.reads !== undefined }).toEqual({ name, declared: true });
    if (typeof op.reads === 'object') expect(op.reads.inputs.every((i) => Number.isInteger(i) && i >= 0 && i < 3)).toBe(true);
  }
});
