// Full-width DeepLab-ResNet (blocks 1.1.1.1, width 64, head 256, 19 classes, 2 images of 128×128)
// against PyTorch in CI: both sides compute the weights and inputs from the same formula
// (procedural-weights.ts and fixtures/make_models.py --procedural), so only PyTorch's float64 outputs
// are committed (samples of them). Checks in deeplab-parity.ts.
import { join } from 'node:path';
import { useGpu } from './helpers.js';
import { MODEL_FIXTURES, readFixture } from './model-fixtures.js';
import { describeParity, modelOf } from './deeplab-parity.js';
import { proceduralInputs, proceduralStateDict } from './procedural-weights.js';

useGpu();

const io = readFixture(join(MODEL_FIXTURES, 'deeplab_full_procedural.io.safetensors'));

describe('procedural weights', () => {
  test('are bit-identical to the Python generator: checksums of every float tensor in the fixture', () => {
    // [shape, exact sum, values at 0, size/2, size-1] per tensor, in state_dict order.
    const expected = Object.entries(JSON.parse(io.metadata.weight_checksums!) as Record<string, [number[], number, number, number, number]>);
    const weights = proceduralStateDict(expected.map(([name, [shape]]) => [name, shape]));
    const failures: string[] = [];
    for (const [name, [, pySum, ...pyValues]] of expected) {
      const data = weights.get(name)!.data as Float32Array;
      let sum = 0;
      for (const v of data) sum += v;
      const values = [data[0]!, data[data.length >> 1]!, data[data.length - 1]!];
      // Values must be equal bit for bit; the sum only up to float64 summation order.
      if (values.some((v, i) => v !== pyValues[i]) || Math.abs(sum - pySum) > 1e-12 * data.length)
        failures.push(`${name}: values ${values.join(',')} sum ${sum} vs ${pyValues.join(',')} sum ${pySum}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('full-width DeepLab-ResNet (1.1.1.1, width 64, head 256) vs PyTorch on procedural weights', () => {
  describeParity('deeplab_full_procedural', {
    io,
    build: () => {
      const model = modelOf(io);
      model.loadStateDict(proceduralStateDict([...model.stateDict()].map(([name, v]) => [name, v.shape])));
      return model;
    },
    ...proceduralInputs(),
  });
});
