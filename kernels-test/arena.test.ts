// Offset views (Tensor.slice / moveInto), parameter arenas, and the EMA and SGD over arenas: one
// dispatch for the EMA and one per SGD group, against float64 references per parameter.
import { gpu } from '../src/gpu/index.js';
import { Tensor, ParamArena, ARENA_SPAN, scopeAsync, type Shape } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { batchNorm2d, conv2d, linear, relu, reshape, sumAll, fill } from '../src/ops/index.js';
import { emaUpdate, Sgd } from '../src/csg/index.js';
import { Linear, ParamInit } from '../src/nn/layers.js';
import { useGpu, randn, expectClose } from './helpers.js';

useGpu();

const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

describe('offset views', () => {
  test('read, write, reshape and slices of slices address the middle of the buffer', async () => {
    const data = Float32Array.from(randn(1024, 1));
    const base = Tensor.from(data, [1024]);
    const mid = base.slice(128, [4, 40]); // byte 512
    expect(await mid.read()).toEqual(data.slice(128, 288));
    expect(await mid.view([160]).read()).toEqual(data.slice(128, 288));
    const inner = mid.view([160]).slice(64, [8]); // byte 768
    expect(await inner.read()).toEqual(data.slice(192, 200));
    mid.write(new Float32Array(160).fill(7));
    const after = await base.read();
    expect(after.slice(0, 128)).toEqual(data.slice(0, 128));
    expect(after.slice(128, 288)).toEqual(new Float32Array(160).fill(7));
    expect(after.slice(288)).toEqual(data.slice(288));
    const standalone = Tensor.from(data.slice(0, 160), [4, 40]);
    mid.copyFrom(standalone);
    expect(await mid.read()).toEqual(data.slice(0, 160));
    expect(mid.binding).toEqual({ buffer: base.binding.buffer, offset: 512, size: 768 });
    for (const t of [base, mid, inner, standalone]) t.dispose();
  });

  test('misaligned, out-of-range and disposed slices are clear errors', () => {
    const base = Tensor.from(new Float32Array(256), [256]);
    expect(() => base.slice(3, [4])).toThrow(/not aligned to 256 bytes/);
    expect(() => base.slice(-64, [4])).toThrow(/not aligned/);
    expect(() => base.slice(192, [128])).toThrow(/runs past/);
    expect(() => base.bindRange(512, 1024)).toThrow(/runs past/);
    expect(() => base.slice(0, [4]).copyFrom(base)).toThrow(/sizes differ/);
    base.dispose();
    expect(() => base.slice(0, [4])).toThrow(/used after dispose/);
  });

  test('conv, batch norm, linear and their gradients on slices of one buffer equal standalone tensors', async () => {
    const shapes: Record<string, Shape> = { x: [2, 3, 5, 5], w: [4, 3, 3, 3], b: [4], gamma: [4], beta: [4], lw: [6, 100], lb: [6] };
    const names = Object.keys(shapes);
    const data = Object.fromEntries(names.map((n, i) => [n, randn(sizeOf(shapes[n]!), 40 + i, 0.5)]));
    const run = (make: (name: string) => Tensor) =>
      scopeAsync(async () => {
        const t = Object.fromEntries(names.map((n) => [n, make(n)]));
        for (const n of names.slice(1)) t[n]!.requiresGrad = true;
        const [runningMean, runningVar] = [fill([4], 0), fill([4], 1)];
        const y = relu(batchNorm2d(conv2d(t.x!, t.w!, t.b!, { padding: 1 }), t.gamma!, t.beta!, runningMean, runningVar, { training: true }));
        const loss = sumAll(linear(reshape(y, [2, 100]), t.lw!, t.lb!));
        backward(loss);
        const out = [await loss.read(), await runningMean.read(), await runningVar.read()];
        for (const n of names.slice(1)) out.push(await t[n]!.grad!.read());
        for (const n of names.slice(1)) t[n]!.grad!.dispose();
        return out;
      });
    const standalone = await run((n) => Tensor.from(data[n]!, shapes[n]!));
    // Every piece in one buffer, each at the next 64-element (256-byte) boundary after some gap.
    let offset = 64;
    const flat = Tensor.from(randn(4096, 3), [4096]);
    const sliced = await run((n) => {
      const view = flat.slice(offset, shapes[n]!);
      offset += Math.ceil(view.size / 64) * 64 + 64;
      view.write(data[n]!);
      return view;
    });
    sliced.forEach((values, i) => expect(values).toEqual(standalone[i]));
    flat.dispose();
  });
});

describe('parameter arenas', () => {
  test('packing keeps values, identities and state_dict; the memory returns to the pool', async () => {
    const inUse = gpu().pool.stats.bytesInUse;
    let arena = null as ParamArena | null;
    await scopeAsync(async () => {
      const layer = new Linear(70, 30, {}, new ParamInit(5));
      const lone = Tensor.from([1, 2, 3], [3]);
      const x = Tensor.from(randn(140, 6), [2, 70]);
      const before = await linear(x, layer.weight, layer.bias).read();
      const state = await layer.exportStateDict();
      const params = [layer.weight, layer.bias!, lone];
      const packed = ParamArena.of(params);
      arena = packed;
      expect(packed.tensors).toEqual(params);
      expect(layer.parameters()).toEqual([layer.weight, layer.bias]);
      expect(packed.offsets).toEqual([0, 3 * ARENA_SPAN, 4 * ARENA_SPAN]);
      expect(packed.size).toBe(5 * ARENA_SPAN);
      params.forEach((p, i) => expect(p.binding.offset).toBe(4 * packed.offsets[i]!));
      expect(new Set(params.map((p) => p.binding.buffer)).size).toBe(1);
      expect(await linear(x, layer.weight, layer.bias).read()).toEqual(before);
      expect(await layer.exportStateDict()).toEqual(state);
      expect(await lone.read()).toEqual(Float32Array.of(1, 2, 3));
      layer.loadStateDict({ weight: { shape: [30, 70], data: new Float32Array(2100).fill(0.5) }, bias: { shape: [30], data: new Float32Array(30) } });
      expect(await layer.weight.read()).toEqual(new Float32Array(2100).fill(0.5));
      expect(await lone.read()).toEqual(Float32Array.of(1, 2, 3));
      expect(ParamArena.of(params)).toBe(packed);
      expect(() => ParamArena.of([layer.weight])).toThrow(/already packed with another list/);
      const other = Tensor.from([0], [1]);
      expect(() => ParamArena.of([other, other])).toThrow(/listed twice/);
      expect(() => ParamArena.of([Tensor.from([1], [1], 'i32')])).toThrow(/not f32/);
      expect(() => ParamArena.of([])).toThrow(/no tensors/);
      layer.dispose();
    });
    expect(() => arena!.range(0, 4)).toThrow(/every tensor in it was disposed/);
    expect(gpu().pool.stats.bytesInUse).toBe(inUse);
  });
});

/** Float64 model of the reference's SGD step for one parameter. */
function sgdRef(p: number[], g: ArrayLike<number>, buf: number[] | null, lr: number, momentum: number, wd: number): { p: number[]; buf: number[] } {
  const d = p.map((v, j) => g[j]! + wd * v);
  const next = buf ? buf.map((b, j) => momentum * b + lr * d[j]!) : d.map((v) => lr * v);
  return { p: p.map((v, j) => v - next[j]!), buf: next };
}

describe('EMA and SGD over arenas', () => {
  test('EMA: one dispatch for every pair, k = m·k + (1 − m)·q', async () => {
    const shapes = [[1500], [3, 7], [64, 20]];
    const ks = shapes.map((s, i) => Tensor.from(randn(sizeOf(s), 50 + i), s));
    const qs = shapes.map((s, i) => Tensor.from(randn(sizeOf(s), 60 + i), s));
    const expected = await Promise.all(ks.map(async (k) => Array.from(await k.read())));
    for (let round = 0; round < 2; round++) {
      const dispatches = gpu().encoder.dispatchCount;
      emaUpdate(ks, qs, 0.9);
      expect(gpu().encoder.dispatchCount - dispatches).toBe(1);
      for (let i = 0; i < ks.length; i++) {
        const q = await qs[i]!.read();
        expected[i] = expected[i]!.map((k, j) => 0.9 * k + 0.1 * q[j]!);
        expectClose(await ks[i]!.read(), expected[i]!, { atol: 1e-6, rtol: 1e-6 }, `round ${round} ema ${i}`);
      }
    }
    for (const t of [...ks, ...qs]) t.dispose();
  });

  test('SGD: one dispatch per group; first steps, skipped parameters and kept momentum per parameter', async () => {
    const [momentum, wd] = [0.9, 5e-4];
    // a crosses spans; b has no gradient at step 0 (its first step is step 1); c has none from step 2 on.
    const sizes = { a: 2500, b: 7, c: 300, d: 1030 };
    const names = Object.keys(sizes) as (keyof typeof sizes)[];
    const hasGrad = (n: string, step: number): boolean => (n === 'b' ? step > 0 : n === 'c' ? step < 2 : true);
    const init = names.map((n, i) => randn(sizes[n], 70 + i));
    const params = init.map((d) => Tensor.from(d, [d.length]));
    const groups = [[0, 1, 2], [3]];
    const opt = new Sgd(
      groups.map((g, gi) => ({ params: g.map((i) => params[i]!), lr: gi === 0 ? 0.1 : 1 })),
      { momentum, weightDecay: wd },
    );
    const ref = init.map((d) => ({ p: Array.from(d), buf: null as number[] | null }));
    for (let step = 0; step < 4; step++) {
      const lrs = [0.01 * (step + 1), 0.02 * (step + 1)];
      names.forEach((n, i) => {
        params[i]!.grad?.dispose();
        params[i]!.grad = null;
        if (!hasGrad(n, step)) return;
        const g = randn(sizes[n], 100 + 10 * step + i);
        params[i]!.grad = Tensor.from(g, [g.length]).keep();
        Object.assign(ref[i]!, sgdRef(ref[i]!.p, g, ref[i]!.buf, lrs[i === 3 ? 1 : 0]!, momentum, wd));
      });
      const dispatches = gpu().encoder.dispatchCount;
      opt.step(lrs);
      expect(gpu().encoder.dispatchCount - dispatches).toBe(2);
      if (step === 0) expect(opt.momentumOf(params[1]!)).toBeNull();
      for (let i = 0; i < names.length; i++) {
        expectClose(await params[i]!.read(), ref[i]!.p, { atol: 1e-6, rtol: 1e-5 }, `step ${step} param ${names[i]}`);
        const buf = opt.momentumOf(params[i]!);
        if (ref[i]!.buf) expectClose(await buf!.read(), ref[i]!.buf!, { atol: 1e-7, rtol: 1e-5 }, `step ${step} momentum ${names[i]}`);
      }
    }
    expect(() => opt.step([0.1])).toThrow(/1 learning rates for 2 groups/);
    params[0]!.grad = Tensor.from([1], [1]).keep();
    expect(() => opt.step([0.1, 0.1])).toThrow(/differ in shape/);
    opt.dispose();
    for (const t of params) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  test('a restored momentum makes the next step a regular one', async () => {
    const init = randn(40, 80);
    const saved = randn(40, 81, 0.1);
    const g = randn(40, 82);
    const [p, q] = [Tensor.from(init, [40]), Tensor.from(init, [40])];
    const opt = new Sgd([{ params: [p, q], lr: 0.1 }], { momentum: 0.9, weightDecay: 0 });
    expect(() => opt.restoreMomentum(Tensor.from([0], [1]), [0])).toThrow(/in none of the groups/);
    opt.restoreMomentum(p, saved);
    expect(await opt.momentumOf(p)!.read()).toEqual(Float32Array.from(saved));
    expect(opt.momentumOf(q)).toBeNull();
    p.grad = Tensor.from(g, [40]).keep();
    opt.step([0.5]);
    expectClose(await p.read(), sgdRef(Array.from(init), g, Array.from(saved), 0.5, 0.9, 0).p, { atol: 1e-6, rtol: 1e-5 }, 'after the restored step');
    expect(await q.read()).toEqual(Float32Array.from(init));
    opt.dispose();
    p.grad.dispose();
    for (const t of [p, q]) t.dispose();
  });
});
