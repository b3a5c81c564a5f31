// What the classifier sees and how it is scored (docs/CLASSIFICATION.md):
// - the npm ImageNet ResNet-50 (Caffe layout, 0–255 inputs) fed unit-scale inputs for fine-tuning
//   (CAFFE_UNIT_NORM): conv1's weights multiplied by the std on loading, so the network computes the
//   same logits as on CAFFE_NORM inputs with the weights as they are;
// - evaluation scores: the mean of sigmoid(logits) over an image and its mirror (the recipe), or the
//   image alone (`flip: false`, the digits).
import { join } from 'node:path';
import { Tensor } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { CsgClassifier } from '../src/csg/model.js';
import { CAFFE_NORM, CAFFE_UNIT_NORM, IMAGENET_NORM, type Normalization } from '../src/data/augment.js';
import { evalViewInto, type ClsImage } from '../src/data/cls-augment.js';
import { clsEvalBatches, digitsClsSource } from '../src/data/cls-sampler.js';
import { evaluateClassifier } from '../src/eval/classify.js';
import { reshape } from '../src/ops/index.js';
import { Conv2d, Module, ParamInit, type ModelOutput } from '../src/nn/index.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { toFloat32 } from '../src/io/safetensors.js';
import type { WeightsFile } from '../src/io/weights.js';
import { loadStartWeights } from '../src/train/run-parts.js';
import { parseClsOptions } from '../src/cli/cls-options.js';
import { MODEL_FIXTURES } from './model-fixtures.js';
import { useGpu, expectClose, rng } from './helpers.js';

useGpu();
// One conv variant: no kernel timing of new shapes inside a test (see train-e2e.test.ts).
beforeAll(() => {
  process.env.CSG_CONV_VARIANT = 'regblock';
});
afterAll(() => {
  delete process.env.CSG_CONV_VARIANT;
});

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
}, 300_000);

/** Logits = one convolution over the whole image: a linear classifier of the pixels, so an image and
 *  its mirror score differently (a random-init ResNet's scores hardly depend on its input). */
class PixelClassifier extends Module {
  readonly conv: Conv2d;
  constructor(classes: number, side: number) {
    super();
    this.conv = this.child('conv', new Conv2d(3, classes, side, {}, new ParamInit(2)));
  }
  forward(x: Tensor): ModelOutput {
    const map = this.conv.forward(x);
    return { logits: reshape(map, [x.shape[0]!, map.shape[1]!]), layer3: map, layer4: map };
  }
}

test('scores: mean sigmoid over the image and its mirror, or the image alone with flip: false', async () => {
  const random = rng(9);
  const [count, side, classes] = [12, 32, 4];
  const images = Uint8Array.from({ length: count * side * side * 3 }, () => Math.floor(256 * random()));
  const source = digitsClsSource('small', { count, width: side, height: side, images, labels: Uint8Array.from({ length: count }, (_, i) => i % classes) }, ['a', 'b', 'c', 'd']);
  const view = { resize: side, crop: side, randAugment: null };
  const model = new PixelClassifier(classes, side);
  try {
    model.eval();
    // The logits of every image and of its mirror, in one forward.
    const [batch] = [...clsEvalBatches(source, count, view, IMAGENET_NORM)];
    const both = new Float32Array(2 * batch!.images.length);
    both.set(batch!.images);
    both.set(batch!.flipped, batch!.images.length);
    const out = noGrad(() => model.forward(Tensor.from(both, [2 * count, 3, side, side])));
    const logits = (await out.logits.read()) as Float32Array;
    for (const t of new Set([out.logits, out.layer3, out.layer4])) t.dispose();
    const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
    const ranked = (score: (i: number, c: number) => number) =>
      Array.from({ length: count }, (_, i) => {
        const s = Array.from({ length: classes }, (_, c) => score(i, c));
        const best = s.indexOf(Math.max(...s));
        return { best, margin: s[best]! - Math.max(...s.filter((_, c) => c !== best)) };
      });
    const mirrored = ranked((i, c) => (sigmoid(logits[i * classes + c]!) + sigmoid(logits[(count + i) * classes + c]!)) / 2);
    const alone = ranked((i, c) => sigmoid(logits[i * classes + c]!));
    const withFlip = await evaluateClassifier(model, source, { classes, norm: IMAGENET_NORM, view, batch: count });
    const withoutFlip = await evaluateClassifier(model, source, { classes, norm: IMAGENET_NORM, view, batch: count, flip: false });
    // Rounding may differ between batch sizes: only clear decisions are compared.
    for (let i = 0; i < count; i++) {
      if (mirrored[i]!.margin > 1e-5) expect(withFlip.predictions[i]).toBe(mirrored[i]!.best);
      if (alone[i]!.margin > 1e-5) expect(withoutFlip.predictions[i]).toBe(alone[i]!.best);
    }
    // The two rules disagree somewhere, or the test would not tell them apart.
    expect(mirrored.some((m, i) => m.best !== alone[i]!.best && m.margin > 1e-5 && alone[i]!.margin > 1e-5)).toBe(true);
  } finally {
    model.dispose();
  }
}, 300_000);

test('--input-scale: 255 by default, unit on request or from a run\'s saved options, anything else named', () => {
  expect(parseClsOptions([]).unitInput).toBe(false);
  expect(parseClsOptions(['--input-scale', 'unit']).unitInput).toBe(true);
  expect(parseClsOptions([], { unitInput: true }).unitInput).toBe(true);
  expect(parseClsOptions(['--input-scale', '255'], { unitInput: true }).unitInput).toBe(false);
  expect(() => parseClsOptions(['--input-scale', '1'])).toThrow("--input-scale: expected unit or 255, got '1'");
});
