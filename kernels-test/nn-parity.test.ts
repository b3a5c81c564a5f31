// The small DeepLab-ResNet (blocks 1.1.1.1, width 8) against PyTorch from the same weights
// (fixtures/make_models.py, checks in deeplab-parity.ts); the classification ResNet on its backbone;
// head dropout's seed state; the CSG wrapper's forward.
import { join } from 'node:path';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { crossEntropy } from '../src/ops/index.js';
import { backward, noGrad } from '../src/autograd/index.js';
import { BatchNorm2d, DeepLabResNet, ResNet, dropoutSeedState, setDropoutSeedState, type HostTensor } from '../src/nn/index.js';
import { CsgDeepLab } from '../src/csg/model.js';
import { useGpu, relL2, randn, expectClose } from './helpers.js';
import { MODEL_FIXTURES, readFixture, fixtureTensor, type Fixture } from './model-fixtures.js';
import { describeParity, modelOf } from './deeplab-parity.js';

useGpu();

function expectRel(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const err = relL2(actual, expected);
  if (!(err <= tol)) throw new Error(`${what}: relative L2 error ${err.toExponential(3)} > ${tol}`);
}

function floats(f: Fixture, name: string): Float32Array {
  return fixtureTensor(f, name).data as Float32Array;
}

const smallIo = readFixture(join(MODEL_FIXTURES, 'deeplab_small.io.safetensors'));
const smallWeights = readFixture(join(MODEL_FIXTURES, 'deeplab_small.weights.safetensors'));

describe('small DeepLab-ResNet (1.1.1.1, width 8) vs PyTorch', () => {
  describeParity('deeplab_small', {
    io: smallIo,
    build: () => {
      const model = modelOf(smallWeights);
      model.loadStateDict(smallWeights.tensors as Map<string, HostTensor>);
      return model;
    },
    images: fixtureTensor(smallIo, 'images') as { shape: number[]; data: Float32Array },
    labels: fixtureTensor(smallIo, 'labels') as { shape: number[]; data: Uint8Array },
  });
});

describe('classification ResNet (output stride 32) on the small backbone weights', () => {
  for (const [strideIn1x1, key] of [[false, 'classify'], [true, 'classify_stride_in_1x1']] as const) {
    test(`strideIn1x1 ${strideIn1x1}: logits within 1e-4 relative`, async () => {
      const f = smallIo;
      const weights = smallWeights.tensors as Map<string, HostTensor>;
      const model = new ResNet({ layers: [1, 1, 1, 1], width: 8, fcOut: 10, strideIn1x1 }).eval();
      try {
        model.loadBackbone(weights);
        model.fc!.loadStateDict({ weight: fixtureTensor(f, 'fc.weight'), bias: fixtureTensor(f, 'fc.bias') } as Record<string, HostTensor>);
        const images = fixtureTensor(f, 'images');
        const logits = await scopeAsync(async () => noGrad(() => model.classify(Tensor.from(images.data as Float32Array, images.shape))).readFloat32());
        expectRel(logits, floats(f, key), 1e-4, key);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('head dropout in training mode', () => {
  test('masks follow the saved seed state: restoring it repeats a forward exactly, the next call differs', async () => {
    const model = new DeepLabResNet({ layers: [1, 1, 1, 1], width: 4, headWidth: 8, classes: 5, seed: 1 });
    const dropoutModule = new Map(model.namedModules()).get('fc_new.conv2d_list.0.0.project.3')!;
    try {
      model.train();
      // Frozen head BN too, so that only the dropout mask can change between calls.
      for (const [, m] of model.namedModules()) if (m instanceof BatchNorm2d) m.freeze();
      const run = (): Promise<Float32Array> =>
        scopeAsync(() => noGrad(() => model.forward(Tensor.from(randn(2 * 3 * 32 * 32, 8), [2, 3, 32, 32]))).logits.readFloat32());
      const saved = dropoutSeedState();
      const first = await run();
      const second = await run();
      setDropoutSeedState(saved);
      const replay = await run();
      expect(Array.from(replay)).toEqual(Array.from(first));
      expect(relL2(second, first)).toBeGreaterThan(1e-3);
      dropoutModule.eval();
      const noDropout = await run();
      expect(Array.from(await run())).toEqual(Array.from(noDropout));
    } finally {
      model.dispose();
    }
  });
});

describe('CSG wrapper forward', () => {
  test('in training mode the synced teacher sees the student backbone features (frozen BN); no gradient reaches it', async () => {
    const model = new CsgDeepLab({ layers: [1, 1, 1, 1], width: 8, headWidth: 16, queueSize: 16, seed: 2 });
    try {
      model.encoder_q.layer1.items[0]!.parameters()[0]!.write(Float32Array.from(randn(8 * 8, 3)));
      model.syncTeacher();
      model.train();
      await scopeAsync(async () => {
        const x = Tensor.from(randn(2 * 3 * 48 * 40, 4), [2, 3, 48, 40]);
        const student = model.encoder_q.forward(x);
        const teacher = noGrad(() => model.encoder_k.features(x));
        expect(student.logits.shape).toEqual([2, 19, 48, 40]);
        expect(teacher.layer3.shape).toEqual([2, 128, 6, 5]);
        expect(teacher.layer4.shape).toEqual([2, 256, 6, 5]);
        expect(teacher.layer4.requiresGrad).toBe(false);
        // The teacher runs in eval mode off the tape, its convs and frozen norms folded into one conv
        // each (nn/layers.ts chain): the same features up to float rounding.
        const tol = { atol: 1e-6, rtol: 1e-5 };
        expectClose(await teacher.layer3.readFloat32(), await student.layer3.readFloat32(), tol, 'teacher layer3');
        expectClose(await teacher.layer4.readFloat32(), await student.layer4.readFloat32(), tol, 'teacher layer4');
        backward(crossEntropy(student.logits, Tensor.from(new Array(2 * 48 * 40).fill(3), [2, 48, 40], 'i32')));
      });
      expect(model.encoder_q.conv1.weight.grad).not.toBeNull();
      expect(model.encoder_q.fc_new.conv2d_list.items[0]!.items[4]!.parameters()[1]!.grad).not.toBeNull();
      expect(model.encoder_k.parameters().every((p) => p.grad === null)).toBe(true);
      expect(model.encoder_q.fc_csg.parameters().every((p) => p.grad === null)).toBe(true);
    } finally {
      for (const p of model.parameters()) p.grad?.dispose();
      model.dispose();
    }
  });
});
