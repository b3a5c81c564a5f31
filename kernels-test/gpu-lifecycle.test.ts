// Closing and opening the GPU again in one process (tests, a long-lived server): the second device is
// made from the same Dawn instance (an instance dropped in-process was once collected under a later
// device and crashed the process), and it computes like the first.
import { initGpu, closeGpu } from '../src/gpu/index.js';
import { dawnGpu } from '../src/gpu/platform-node.js';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { add } from '../src/ops/index.js';

process.env.CSG_WEBGPU_QUIET ??= '1';

async function addOnce(): Promise<number[]> {
  return scopeAsync(async () => Array.from(await add(Tensor.from([1, 2, 3], [3]), Tensor.from([10, 20, 30], [3])).read()));
}

test('three open–close cycles reuse one Dawn instance and each device computes', async () => {
  const instances: GPU[] = [];
  for (let cycle = 0; cycle < 3; cycle++) {
    await initGpu();
    instances.push(dawnGpu());
    expect(await addOnce()).toEqual([11, 22, 33]);
    closeGpu();
  }
  expect(new Set(instances).size).toBe(1);
  expect(() => dawnGpu()).toThrow(/not initialised/);
});
