// DeepLab-ResNet against PyTorch from the same weights (fixtures/make_models.py): eval-mode logits and
// features, and one training-mode step (frozen backbone BN, head BN on batch statistics, dropout off):
// loss, gradients and the head's running statistics (reference step in float64). Shared by the small
// model (nn-parity.test.ts) and the full-width one on procedural weights (nn-parity-full.test.ts).
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { crossEntropy } from '../src/ops/index.js';
import { backward, noGrad } from '../src/autograd/index.js';
import { DeepLabResNet } from '../src/nn/index.js';
import { relL2 } from './helpers.js';
import { fixtureTensor, sampleGrid, type Fixture } from './model-fixtures.js';

export interface ParityCase {
  io: Fixture;
  /** The model with the case's weights loaded, head dropout off (eval ignores it; the step needs it off). */
  build(): DeepLabResNet;
  images: { shape: number[]; data: Float32Array };
  labels: { shape: number[]; data: Uint8Array };
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < expected.length; i++) m = Math.max(m, Math.abs(actual[i]! - expected[i]!));
  return m;
}

/**
 * Compares ours with the fixture's `key`, which holds either the whole tensor or, for large ones of
 * the full-width fixture, ours.flatten()[::step] (step in the metadata `flat_steps`). Returns a line
 * for the report; throws past `tol` (relative L2).
 */
function expectMatch(io: Fixture, key: string, ours: ArrayLike<number>, tol: number): string {
  const expected = fixtureTensor(io, key).data as Float32Array;
  const step = (JSON.parse(io.metadata.flat_steps ?? '{}') as Record<string, number>)[key] ?? 1;
  const sampled = step === 1 ? ours : Array.from({ length: Math.ceil(ours.length / step) }, (_, i) => ours[i * step]!);
  if (sampled.length !== expected.length) throw new Error(`${key}: ${sampled.length} values to compare, the fixture holds ${expected.length}`);
  const err = relL2(sampled, expected);
  if (!(err <= tol)) throw new Error(`${key}: relative L2 error ${err.toExponential(3)} > ${tol}`);
  return `${key} ${err.toExponential(1)} (max|Δ| ${maxAbsDiff(sampled, expected).toExponential(1)})`;
}

/** The fixture's model (metadata layers, width, headWidth, classes) with head dropout off. */
export function modelOf(io: Fixture): DeepLabResNet {
  const m = io.metadata;
  return new DeepLabResNet({
    layers: m.layers!.split('.').map(Number),
    width: Number(m.width),
    headWidth: Number(m.headWidth),
    classes: Number(m.classes),
    headDropout: 0,
  });
}

export function describeParity(name: string, c: ParityCase): void {
  // One model for both tests: the training step, which changes its head BN statistics, runs last.
  let model: DeepLabResNet;
  beforeAll(() => {
    model = c.build();
  });
  afterAll(() => {
    for (const p of model?.parameters() ?? []) p.grad?.dispose();
    model?.dispose();
  });

  test('eval mode: logits (align_corners upsampling) and layer3/layer4 features within 1e-4 relative', async () => {
    model.eval();
    const report = await scopeAsync(async () => {
      const out = noGrad(() => model.forward(Tensor.from(c.images.data, c.images.shape)));
      const [n, , h, w] = c.images.shape as [number, number, number, number];
      expect(out.logits.shape).toEqual([n, model.classes, h, w]);
      const grid = Array.from(fixtureTensor(c.io, 'grid').data as Int32Array);
      return [
        expectMatch(c.io, 'logits_grid', sampleGrid(await out.logits.readFloat32(), out.logits.shape, grid), 1e-4),
        expectMatch(c.io, 'layer3', await out.layer3.readFloat32(), 1e-4),
        expectMatch(c.io, 'layer4', await out.layer4.readFloat32(), 1e-4),
      ];
    });
    console.log(`${name} eval, relative L2: ${report.join('; ')}`);
  });

  test('training step: loss, gradients and head BN running statistics match; backbone BN statistics untouched', async () => {
    model.train();
    const backboneMean = model.layer2.items[0]!.stateDict().get('bn2.running_mean')!;
    const before = await (backboneMean as Tensor).readFloat32();
    const report = await scopeAsync(async () => {
      const { logits } = model.forward(Tensor.from(c.images.data, c.images.shape));
      const loss = crossEntropy(logits, Tensor.from(c.labels.data, c.labels.shape, 'i32'), 255);
      const line = expectMatch(c.io, 'train_loss', [await loss.item()], 1e-5);
      backward(loss);
      return [line];
    });
    // Reference gradients are float64; PyTorch's own float32 error sets the bar (4×, at least 3e-4).
    const torchErr = JSON.parse(c.io.metadata.torch_f32_grad_rel_err!) as Record<string, number>;
    const params = new Map(model.namedParameters());
    const failures: string[] = [];
    for (const n of c.io.metadata.grad_names!.split(',')) {
      const p = params.get(n)!;
      if (!p.grad) throw new Error(`${n} got no gradient`);
      const tol = Math.max(3e-4, 4 * torchErr[n]!);
      try {
        report.push(expectMatch(c.io, `grad.${n}`, await p.grad.readFloat32(), tol));
      } catch (e) {
        failures.push(`${(e as Error).message} (PyTorch f32: ${torchErr[n]!.toExponential(2)})`);
      }
    }
    expect(failures).toEqual([]);
    expect(model.bn1.weight.grad).toBeNull();
    const state = model.stateDict();
    for (const n of c.io.metadata.stat_names!.split(',')) {
      for (const stat of ['running_mean', 'running_var']) {
        report.push(expectMatch(c.io, `after.${n}.${stat}`, await (state.get(`${n}.${stat}`) as Tensor).readFloat32(), 1e-4));
      }
    }
    expect(Array.from(await (backboneMean as Tensor).readFloat32())).toEqual(Array.from(before));
    console.log(`${name} training step, relative L2: ${report.join('; ')}`);
  });
}
