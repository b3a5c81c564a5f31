// The npm ImageNet ResNet-50 (Caffe layout, 0–255 inputs) fed unit-scale inputs for fine-tuning
// (CAFFE_UNIT_NORM, docs/CLASSIFICATION.md): conv1's weights multiplied by the std on loading, so the
// network computes the same logits as on CAFFE_NORM inputs with the weights as they are.
import { join } from 'node:path';
import { Tensor } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { CsgClassifier } from '../src/csg/model.js';
import { CAFFE_NORM, CAFFE_UNIT_NORM, type Normalization } from '../src/data/augment.js';
import { evalViewInto, type ClsImage } from '../src/data/cls-augment.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { toFloat32 } from '../src/io/safetensors.js';
import type { WeightsFile } from '../src/io/weights.js';
import { loadStartWeights } from '../src/train/run-parts.js';
import { MODEL_FIXTURES } from './model-fixtures.js';
import { useGpu, expectClose, rng } from './helpers.js';

useGpu();

test('unit-scale inputs with conv1 rescaled give the logits of 0–255 inputs with the weights as they are', async () => {
  // A small ResNet's backbone (layers 1.1.1.1, width 8), declared Caffe-layout for the test.
  const { tensors } = readSafetensors(join(MODEL_FIXTURES, 'deeplab_small.weights.safetensors'));
  const weights: WeightsFile = { tensors, metadata: {}, notes: [], format: 'safetensors', layout: 'caffe', layoutReason: 'test' };
  const start = { path: 'deeplab_small.weights.safetensors', weights, layout: 'caffe' as const };
  const random = rng(5);
  const image: ClsImage = { width: 32, height: 32, image: Uint8Array.from({ length: 32 * 32 * 3 }, () => Math.floor(256 * random())), label: 0 };
  const logitsOf = async (unitInput: boolean): Promise<{ norm: Normalization; logits: Float32Array; conv1: Float32Array }> => {
    const model = new CsgClassifier({ layers: [1, 1, 1, 1], width: 8, classes: 10, strideIn1x1: true, seed: 3, queueSize: 16 });
    try {
      const norm = loadStartWeights(model, start, () => undefined, unitInput);
      const x = new Float32Array(3 * 32 * 32);
      evalViewInto(image, { resize: 32, crop: 32, randAugment: null }, norm, x, new Float32Array(x.length), 0);
      model.eval();
      const out = noGrad(() => model.encoder_q.forward(Tensor.from(x, [1, 3, 32, 32])));
      const logits = (await out.logits.read()) as Float32Array;
      for (const t of [out.logits, out.layer3, out.layer4]) t.dispose();
      const conv1 = (await (model.encoder_q.stateDict().get('conv1.weight') as Tensor).read()) as Float32Array;
      return { norm, logits, conv1 };
    } finally {
      model.dispose();
    }
  };
  const plain = await logitsOf(false);
  const unit = await logitsOf(true);
  expect(plain.norm).toBe(CAFFE_NORM);
  expect(unit.norm).toBe(CAFFE_UNIT_NORM);
  // conv1 [out, 3, 7, 7]: input channel c (B, G, R) multiplied by its std.
  const original = toFloat32(tensors.get('conv1.weight')!);
  const perChannel = 49;
  for (let i = 0; i < original.length; i += 17) expect(unit.conv1[i]).toBeCloseTo(original[i]! * CAFFE_UNIT_NORM.std[Math.floor(i / perChannel) % 3]!, 4);
  expectClose(unit.logits, plain.logits, { atol: 1e-5, rtol: 1e-4 }, 'logits');
  expect(Math.max(...plain.logits.map(Math.abs))).toBeGreaterThan(1e-3);
}, 120_000);
