// GPU validation errors surface at the next check, naming the kernel that caused them: the encoder
// keeps one pair of error scopes per submit, so the name must come from the submit's record and the
// bind group's label, not from a scope around each dispatch.
import { gpu, GpuError } from '../src/gpu/index.js';
import { Tensor } from '../src/tensor/index.js';
import { useGpu } from './helpers.js';

useGpu();

test('a dispatch that binds one buffer as both read and read-write storage fails its submit, naming the kernel', async () => {
  const t = Tensor.from(new Float32Array(1024), [1024]);
  const ok = Tensor.from(new Float32Array(1024), [1024]);
  const params = { spans: 1, spanBase: 0, lr: 0, momentum: 0, weightDecay: 0, decay: 0.5 };
  gpu().run({ family: 'optim', entry: 'ema' }, { p: ok.binding, g: t.binding }, params, [1]);
  gpu().run({ family: 'optim', entry: 'ema' }, { p: t.binding, g: t.binding }, params, [1]);
  const failure = gpu().encoder.sync().then(
    () => null,
    (e: unknown) => e,
  );
  const error = await failure;
  expect(error).toBeInstanceOf(GpuError);
  expect((error as Error).message).toMatch(/a submit of 2 dispatches \(optim\.ema×2\)/);
  expect((error as Error).message).toMatch(/optim\.ema/);
  // The device is still usable afterwards: a clean submit checks clean.
  gpu().run({ family: 'optim', entry: 'ema' }, { p: ok.binding, g: t.binding }, params, [1]);
  await gpu().encoder.sync();
  expect(Array.from((await ok.read()).slice(0, 2))).toEqual([0, 0]);
  t.dispose();
  ok.dispose();
});
