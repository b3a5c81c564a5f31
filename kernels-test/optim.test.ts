// The parameter updates (src/ops/optim.ts) through src/csg's emaUpdate and Sgd, against float64
// references, the poly/warm-up schedule, and --factor's backbone group. Parameter arenas themselves: arena.test.ts.
import { Tensor } from '../src/tensor/index.js';
import { emaUpdate, Sgd, polyWarmupLr } from '../src/csg/index.js';
import { useGpu, randn, expectClose } from './helpers.js';
import { emaRef, sgdRef } from './ref/optim.js';
import { CsgDeepLab } from '../src/csg/model.js';
import { CsgTrainStep, stepConfig } from '../src/train/step.js';
import { parseTrainOptions } from '../src/cli/options.js';

useGpu();

describe('EMA and SGD', () => {
  test('EMA k = m·k + (1 − m)·q over every tensor', async () => {
    const shapes = [[3, 4], [7], [2, 2, 2]];
    const ks = shapes.map((s, i) => Tensor.from(randn(s.reduce((a, b) => a * b), 10 + i), s));
    const qs = shapes.map((s, i) => Tensor.from(randn(s.reduce((a, b) => a * b), 20 + i), s));
    const before = await Promise.all(ks.map((k) => k.read()));
    emaUpdate(ks, qs, 0.9);
    for (let i = 0; i < ks.length; i++) {
      expectClose(await ks[i]!.read(), emaRef(before[i]!, await qs[i]!.read(), 0.9), { atol: 1e-6, rtol: 1e-6 }, `ema ${i}`);
    }
    expect(() => emaUpdate([ks[0]!], [qs[1]!])).toThrow(/differ in shape/);
    for (const t of [...ks, ...qs]) t.dispose();
  });

  test('SGD folds the LR into the momentum buffer, per group, and skips parameters without gradients', async () => {
    const wd = 5e-4;
    const init = [randn(6, 30), randn(5, 31), randn(4, 32)];
    const params = init.map((d) => Tensor.from(d, [d.length]));
    const opt = new Sgd([{ params: [params[0]!, params[2]!], lr: 0.1 }, { params: [params[1]!], lr: 1 }], { momentum: 0.9, weightDecay: wd });
    // CPU float64 model of the same three steps; the third parameter never has a gradient.
    const p: Float64Array[] = init.map((d) => Float64Array.from(d));
    const buf: (Float64Array | null)[] = [null, null, null];
    const groupOf = [0, 1, 0];
    for (let step = 0; step < 3; step++) {
      const lrs = [0.01 * (step + 1), 0.02 * (step + 1)];
      for (const i of [0, 1]) {
        const g = randn(init[i]!.length, 100 + 10 * step + i);
        params[i]!.grad?.dispose();
        params[i]!.grad = Tensor.from(g, [g.length]).keep();
        const next = sgdRef(p[i]!, g, buf[i]!, lrs[groupOf[i]!]!, 0.9, wd);
        [p[i], buf[i]] = [next.p, next.buf];
      }
      opt.step(lrs);
    }
    for (let i = 0; i < 3; i++) expectClose(await params[i]!.read(), p[i]!, { atol: 1e-6, rtol: 1e-5 }, `param ${i}`);
    expect(opt.momentumOf(params[2]!)).toBeNull();
    expect(() => opt.step([0.1])).toThrow(/1 learning rates for 2 groups/);
    opt.dispose();
    for (const t of params) {
      t.grad?.dispose();
      t.dispose();
    }
  });

  test('--factor sets the backbone group: its learning rate is lr·factor, the head lr', () => {
    for (const factor of [0.1, 0.25]) {
      const o = parseTrainOptions(['--layers', '1.1.1.1', '--width', '4', '--head-width', '8', '--K', '64', '--batch', '1', '--chunks', '2', '--lr', '0.02', '--factor', String(factor)]);
      const model = new CsgDeepLab({ layers: o.layers, width: o.width, headWidth: o.headWidth, classes: 2, queueSize: o.K });
      try {
        const step = new CsgTrainStep(model, stepConfig(o));
        const [backbone, head] = step.learningRates(500);
        expect(backbone! / head!).toBeCloseTo(factor, 12);
        expect(head).toBeCloseTo(polyWarmupLr(0.02, 500, o.itersMax), 15);
      } finally {
        model.dispose();
      }
    }
  });

  test('poly schedule with the 100-iteration quadratic warm-up', () => {
    expect(polyWarmupLr(1e-3, 0, 1000)).toBeCloseTo(1e-5, 12);
    expect(polyWarmupLr(1e-3, 50, 1000)).toBeCloseTo((0.01 + 0.99 * 0.25) * 1e-3 * 0.95 ** 0.9, 12);
    expect(polyWarmupLr(1e-3, 100, 1000)).toBeCloseTo(1e-3 * 0.9 ** 0.9, 12);
    expect(polyWarmupLr(1e-3, 500, 1000)).toBeCloseTo(1e-3 * 0.5 ** 0.9, 12);
    expect(polyWarmupLr(1e-3, 1000, 1000)).toBe(0);
    expect(() => polyWarmupLr(1e-3, 1001, 1000)).toThrow(/outside/);
  });
});
