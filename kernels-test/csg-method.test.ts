// src/csg: the queue, the EMA, SGD with its schedule, hyperspherical energy, and the whole CSG loss
// of two stages against a PyTorch fixture (kernels-test/fixtures/make_csg_loss.py).
import { readFileSync } from 'node:fs';
import { Tensor, scope, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { add, mul, sum, relu, reshape, rankAccuracy } from '../src/ops/index.js';
import { KeyQueue, emaUpdate, Sgd, polyWarmupLr, hypersphericalEnergy, csgStageLoss, type Head } from '../src/csg/index.js';
import { useGpu, randn, expectClose } from './helpers.js';
import { hseRef } from './ref/csg.js';
import { CsgDeepLab } from '../src/csg/model.js';
import { CsgTrainStep, stepConfig } from '../src/train/step.js';
import { parseTrainOptions } from '../src/cli/options.js';

useGpu();

describe('KeyQueue', () => {
  test('enqueues FIFO with wrap-around and moves the pointer', async () => {
    const [dim, size] = [3, 5];
    const start = randn(dim * size, 1);
    const q = new KeyQueue(Tensor.from(start, [dim, size]), 3);
    const keys = randn(4 * dim, 2);
    scope(() => q.enqueue(Tensor.from(keys, [4, dim])));
    expect(q.ptr).toBe(2);
    const expected = Float32Array.from(start);
    for (let j = 0; j < 4; j++) for (let d = 0; d < dim; d++) expected[d * size + ((3 + j) % size)] = keys[j * dim + d]!;
    expectClose(await q.queue.read(), expected, { atol: 0, rtol: 0 }, 'queue');
    expect(Object.keys(q.stateEntries(3))).toEqual(['queue3', 'queue_ptr3']);
    expect(q.stateEntries(4).queue_ptr4).toBe(2);
    expect(() => scope(() => q.enqueue(Tensor.from(new Float32Array(6 * dim), [6, dim])))).toThrow(/do not fit/);
    expect(() => scope(() => q.enqueue(Tensor.from(new Float32Array(8), [2, 4])))).toThrow(/must be \[n, 3\]/);
    q.dispose();
  });
  test('wrap-around is a true FIFO: after batches crossing the end the queue holds the last K keys, each once (not the reference\'s overwrite)', async () => {
    // Key j is the vector (j, j, j): the queue's columns then name the keys they hold.
    const [dim, size] = [3, 5];
    const q = new KeyQueue(Tensor.from(new Float32Array(dim * size).fill(-1), [dim, size]), 0);
    const reference = new Array<number>(size).fill(-1); // NVlabs/CSG: queue[:, :ptr+n-K] = keys[:ptr+n-K]
    let next = 0;
    let refPtr = 0;
    const sent: number[] = [];
    for (const n of [2, 4, 3, 5]) {
      const ids = Array.from({ length: n }, () => next++);
      scope(() => q.enqueue(Tensor.from(Float32Array.from(ids.flatMap((j) => [j, j, j])), [n, dim])));
      sent.push(...ids);
      for (let j = 0; j < Math.min(n, size - refPtr); j++) reference[refPtr + j] = ids[j]!;
      for (let j = 0; j < refPtr + n - size; j++) reference[j] = ids[j]!;
      refPtr = (refPtr + n) % size;
    }
    const held = [...(await q.queue.read())].slice(0, size);
    const last = sent.slice(-size);
    expect(q.ptr).toBe(sent.length % size);
    expect([...held].sort((a, b) => a - b)).toEqual(last);
    for (const [i, key] of last.entries()) expect(held[(sent.length - size + i) % size]).toBe(key);
    // The reference's wrap writes the batch's first keys twice and never holds its last (batch 2..5
    // from pointer 2: key 2 in columns 2 and 0, key 5 nowhere), so it holds fewer than K distinct keys.
    expect(reference).not.toEqual([...held]);
    expect(new Set(reference).size).toBeLessThan(size);
  });

  test('random queues have unit columns', async () => {
    const q = KeyQueue.random(16, 40, 7);
    const data = await q.queue.read();
    for (let j = 0; j < 40; j++) {
      let norm = 0;
      for (let d = 0; d < 16; d++) norm += data[d * 40 + j]! ** 2;
      expect(Math.abs(Math.sqrt(norm) - 1)).toBeLessThan(1e-5);
    }
    q.dispose();
    expect(() => new KeyQueue(Tensor.from([1, 2], [1, 2]), 2)).toThrow(/pointer 2 outside/);
  });
});

describe('EMA and SGD', () => {
  test('EMA k = m·k + (1 − m)·q over every tensor', async () => {
    const shapes = [[3, 4], [7], [2, 2, 2]];
    const ks = shapes.map((s, i) => Tensor.from(randn(s.reduce((a, b) => a * b), 10 + i), s));
    const qs = shapes.map((s, i) => Tensor.from(randn(s.reduce((a, b) => a * b), 20 + i), s));
    const before = await Promise.all(ks.map((k) => k.read()));
    emaUpdate(ks, qs, 0.9);
    for (let i = 0; i < ks.length; i++) {
      const q = await qs[i]!.read();
      expectClose(await ks[i]!.read(), Array.from(before[i]!, (k, j) => 0.9 * k + 0.1 * q[j]!), { atol: 1e-6, rtol: 1e-6 }, `ema ${i}`);
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
    const p = init.map((d) => Array.from(d));
    const buf: (number[] | null)[] = [null, null, null];
    const groupOf = [0, 1, 0];
    for (let step = 0; step < 3; step++) {
      const lrs = [0.01 * (step + 1), 0.02 * (step + 1)];
      for (const i of [0, 1]) {
        const g = randn(init[i]!.length, 100 + 10 * step + i);
        params[i]!.grad?.dispose();
        params[i]!.grad = Tensor.from(g, [g.length]).keep();
        const lr = lrs[groupOf[i]!]!;
        const d = p[i]!.map((v, j) => g[j]! + wd * v);
        buf[i] = buf[i] ? buf[i]!.map((b, j) => 0.9 * b + lr * d[j]!) : d.map((v) => lr * v);
        p[i] = p[i]!.map((v, j) => v - buf[i]![j]!);
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

describe('hyperspherical energy', () => {
  // Regular simplex of n vertices in R^n (e_i minus the centroid): every pair has cos = −1/(n−1), so
  // ‖ŵ_i − ŵ_j‖² = 2n/(n−1) for all i ≠ j.
  test('pinned on a regular simplex: mean over ordered pairs, eps inside the root', async () => {
    const n = 5;
    const x = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) x[i * n + j] = (i === j ? 1 : 0) - 1 / n;
    const eps = 1e-6;
    const dist = Math.sqrt((2 * n) / (n - 1) + eps);
    const expected = { 0: Math.log(1 / dist), 1: 1 / dist, 2: 1 / dist ** 2 };
    for (const s of [0, 1, 2] as const) {
      const mean = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, n]), { s })).item();
      expectClose([mean], [expected[s]], { atol: 1e-6, rtol: 1e-5 }, `E_${s} mean`);
      const total = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, n]), { s, reduction: 'sum' })).item();
      expectClose([total], [expected[s] * n * (n - 1)], { atol: 1e-5, rtol: 1e-5 }, `E_${s} sum`);
    }
  });
  test('random vectors against float64', async () => {
    const [n, d] = [70, 9];
    const x = randn(n * d, 40);
    for (const s of [0, 1, 2] as const) {
      const got = await scope(() => hypersphericalEnergy(Tensor.from(x, [n, d]), { s })).item();
      expectClose([got], [hseRef(x, n, d, s, 1e-6)], { atol: 1e-5, rtol: 1e-4 }, `E_${s}`);
    }
    expect(() => scope(() => hypersphericalEnergy(Tensor.from([1, 2], [1, 2]), { s: 1 }))).toThrow(/2 to 10000 vectors/);
  });
});

interface FixtureStage {
  shape: number[];
  chunks: number;
  queueLength: number;
  ptr: number;
  fq: number[];
  fkStudent: number[];
  fkTeacher: number[];
  headQ: number[][];
  headK: number[][];
  headKAfter: number[][];
  queue: number[];
  loss: number;
  top1: number;
  top5: number;
  queueAfter: number[];
  ptrAfter: number;
  gradFq: number[];
}

/** nn.Linear from broadcasting ops (the model layer's matmul is not this branch's): x [N, in] → [N, out]. */
function linear(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const [n, inputs] = x.shape as [number, number];
  return add(sum(mul(reshape(x, [n, 1, inputs]), weight), 2), bias);
}

describe('the CSG loss of two stages against PyTorch', () => {
  test('loss values, gradients to the student features, EMA of the key heads, queues after', async () => {
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/csg_loss.json', import.meta.url), 'utf8')) as {
      tau: number;
      ema: number;
      dim: number;
      total: number;
      stages: Record<string, FixtureStage>;
    };
    await scopeAsync(async () => {
      const stages = Object.values(fixture.stages);
      const features: Tensor[] = [];
      const losses: Tensor[] = [];
      const checks: (() => Promise<void>)[] = [];
      for (const st of stages) {
        const [, c] = st.shape as [number, number];
        const headShapes = [[c, c], [c], [fixture.dim, c], [fixture.dim]];
        const headQ = st.headQ.map((p, i) => Tensor.from(p, headShapes[i]!));
        const headK = st.headK.map((p, i) => Tensor.from(p, headShapes[i]!));
        const makeHead = ([w1, b1, w2, b2]: Tensor[]): Head => (x) => linear(relu(linear(x, w1!, b1!)), w2!, b2!);
        const queue = new KeyQueue(Tensor.from(st.queue, [fixture.dim, st.queueLength]), st.ptr);
        const studentQ = Tensor.from(st.fq, st.shape);
        studentQ.requiresGrad = true;
        features.push(studentQ);
        emaUpdate(headK, headQ, fixture.ema);
        const { loss, ranks } = csgStageLoss(
          { studentQ, studentK: Tensor.from(st.fkStudent, st.shape), teacherK: Tensor.from(st.fkTeacher, st.shape), headQ: makeHead(headQ), headK: makeHead(headK), queue },
          { chunks: st.chunks, tau: fixture.tau },
        );
        losses.push(loss);
        checks.push(async () => {
          expectClose([await loss.item()], [st.loss], { atol: 1e-4, rtol: 1e-5 }, 'stage loss');
          expectClose(await rankAccuracy(ranks).read(), [st.top1, st.top5], { atol: 1e-6, rtol: 0 }, 'top-1/top-5');
          for (let i = 0; i < 4; i++) expectClose(await headK[i]!.read(), st.headKAfter[i]!, { atol: 1e-6, rtol: 1e-5 }, 'key head after EMA');
          expect(queue.ptr).toBe(st.ptrAfter);
          expectClose(await queue.queue.read(), st.queueAfter, { atol: 1e-6, rtol: 1e-5 }, 'queue after');
          queue.dispose();
        });
      }
      const total = add(losses[0]!, losses[1]!);
      expectClose([await total.item()], [fixture.total], { atol: 1e-4, rtol: 1e-5 }, 'total');
      for (const check of checks) await check();
      backward(total);
      for (let s = 0; s < stages.length; s++) {
        const grad = await features[s]!.grad!.read();
        expectClose(grad, stages[s]!.gradFq, { atol: 1e-5, rtol: 2e-3 }, `gradient to the student features of stage ${s}`);
        features[s]!.grad!.dispose();
      }
    });
  });
});
