// src/csg: the whole CSG loss of two stages (A-Pool, heads, EMA, InfoNCE, enqueue) against a PyTorch
// fixture (kernels-test/fixtures/make_csg_loss.py). The ops it composes have their own tests
// (patch, nce, queue, optim, hse).
import { readFileSync } from 'node:fs';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { add, mul, sum, relu, reshape, rankAccuracy } from '../src/ops/index.js';
import { KeyQueue, emaUpdate, csgStageLoss, type Head } from '../src/csg/index.js';
import { useGpu, expectClose } from './helpers.js';

useGpu();

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
