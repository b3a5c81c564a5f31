// The training core (src/train/core.ts) on a scripted task with a tiny model: the logging and
// evaluation cadence, best-of tracking (also across a resume), checkpoints, the stop on request and
// the stop on a NaN loss. Segmentation on the core end to end: train-e2e.test.ts.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/tensor/index.js';
import { Linear, ParamInit } from '../src/nn/index.js';
import { Sgd } from '../src/csg/index.js';
import { runTraining, type CoreOptions, type StepEvent, type TrainTask } from '../src/train/core.js';
import { useGpu } from './helpers.js';
import { metricsRecords, quiet } from './run-metrics.js';

useGpu();

/** A task whose step moves a Linear(2, 1) by SGD and reports 1/(it + 1) (NaN at `nanAt`), and whose selection values are scripted. */
function scriptedTask(selections: number[], nanAt = -1): TrainTask<{ finished: true }> & { steps: number[]; disposed: boolean } {
  const model = new Linear(2, 1, {}, new ParamInit(1));
  const params = model.parameters();
  const sgd = new Sgd([{ params, lr: 0.1 }]);
  const task = {
    model,
    sgd,
    params,
    steps: [] as number[],
    disposed: false,
    async step(it: number) {
      task.steps.push(it);
      for (const p of params) p.grad = Tensor.from(new Float32Array(p.size).fill(1), [...p.shape]).keep();
      sgd.step([0.1]);
      for (const p of params) {
        p.grad!.dispose();
        p.grad = null;
      }
      const loss = it === nanAt ? NaN : 1 / (it + 1);
      return { losses: { total: loss }, metrics: { loss }, line: `loss ${loss}` };
    },
    select: async () => ({ split: 'val', metric: 'acc', value: selections.shift()! }),
    finish: async () => ({ finished: true as const }),
    dispose() {
      task.disposed = true;
      sgd.dispose();
      model.dispose();
    },
  };
  return task;
}

function options(out: string, extra: Partial<CoreOptions> = {}): CoreOptions {
  return { out, iters: 6, resume: null, logEvery: 2, evalEvery: 2, checkpointEvery: 3, config: { what: 'scripted' }, ...extra };
}


test('logs every logEvery steps, evaluates every evalEvery steps and keeps the best selection and its step', async () => {
  const out = mkdtempSync(join(tmpdir(), 'core-'));
  const events: StepEvent[] = [];
  const task = scriptedTask([0.2, 0.7, 0.4]);
  const outcome = await runTraining(options(out), async () => task, { ...quiet, onStep: (e) => events.push(e) });
  expect(outcome.stopped).toBe(false);
  if (outcome.stopped) return;
  expect(events.map((e) => [e.step, e.logged])).toEqual([[1, false], [2, true], [3, false], [4, true], [5, false], [6, true]]);
  const logged = metricsRecords(out);
  expect(logged.filter((l) => l.kind === 'train').map((l) => [l.step, l.loss])).toEqual([[2, 1 / 2], [4, 1 / 4], [6, 1 / 6]]);
  expect(logged.filter((l) => l.kind === 'eval').map((l) => [l.step, l.acc])).toEqual([[2, 0.2], [4, 0.7], [6, 0.4]]);
  expect(outcome.summary).toMatchObject({ finished: true, steps: 6, best_selection: { split: 'val', metric: 'acc', value: 0.7, step: 4 } });
  expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).best_selection.step).toBe(4);
  expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))).toEqual({ what: 'scripted' });
  expect(JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')).step).toBe(6);
  expect(task.disposed).toBe(true);
});

test('a resumed run continues at the checkpoint and keeps the best selection made before it', async () => {
  const out = mkdtempSync(join(tmpdir(), 'core-resume-'));
  await runTraining(options(out, { iters: 3, evalEvery: 1 }), async () => scriptedTask([0.1, 0.9, 0.3]), quiet);
  const task = scriptedTask([0.5, 0.6, 0.2]);
  const outcome = await runTraining(options(out, { resume: out, evalEvery: 1 }), async () => task, quiet);
  expect(task.steps).toEqual([3, 4, 5]);
  if (outcome.stopped) throw new Error('stopped');
  expect(outcome.summary.best_selection).toEqual({ split: 'val', metric: 'acc', value: 0.9, step: 2 });
});

test('shouldStop saves a checkpoint of the steps done and ends the run early', async () => {
  const out = mkdtempSync(join(tmpdir(), 'core-stop-'));
  const task = scriptedTask([]);
  const outcome = await runTraining(options(out, { evalEvery: 0 }), async () => task, { ...quiet, shouldStop: () => task.steps.length === 2 });
  expect(outcome).toEqual({ stopped: true, checkpoint: join(out, 'ckpt-0000002'), step: 2 });
  expect(JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')).step).toBe(2);
  expect(task.disposed).toBe(true);
});

test('a NaN loss stops the run, naming the step (as the progress counts), the loss and the newest finite checkpoint', async () => {
  const out = mkdtempSync(join(tmpdir(), 'core-nan-'));
  const run = runTraining(options(out, { evalEvery: 0, checkpointEvery: 2 }), async () => scriptedTask([], 3), quiet);
  // NaN at it = 3: the fourth step.
  await expect(run).rejects.toThrow(/^step 4: total loss is NaN; training stopped\. The newest finite checkpoint is .*ckpt-0000002 \(step 2; resume with --resume .*ckpt-0000002\)/);
  expect(metricsRecords(out).map((l) => l.step)).toEqual([2]);
});
