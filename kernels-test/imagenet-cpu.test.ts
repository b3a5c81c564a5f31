// Smoke test of the converted ImageNet ResNet-50 on the CPU reference: real photos → the right ImageNet
// class, and logits equal to PyTorch's on the same file (fixtures/imagenet_logits.json, made by
// fixtures/check_imagenet.py). Skipped, saying why, when the weights are neither cached nor reachable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { caffeInput } from '../src/io/imagenet-input.js';
import { expectClose } from './helpers.js';
import { IMAGENET_LABELS, LABELLED_PHOTOS, imagenetWeightsOrSkip, loadPhoto } from './imagenet-fixtures.js';
import { resnetForwardRef } from './ref/resnet.js';

const torchLogits: Record<string, number[]> = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'imagenet_logits.json'), 'utf8'));
const weights = await imagenetWeightsOrSkip();

(weights ? describe : describe.skip)('ImageNet ResNet-50 (converted Keras weights) on the CPU reference', () => {
  for (const { file, classes, what } of LABELLED_PHOTOS) {
    test(`${file} is ${what}`, () => {
      const { tensors, metadata } = readSafetensors(weights!);
      const { rgba, height, width } = loadPhoto(file);
      const image = { c: 3, h: height, w: width, data: Float64Array.from(caffeInput(rgba, height, width, 4)) };
      const logits = resnetForwardRef(tensors, image, { strideIn1x1: metadata.stride_in_1x1 === 'true' });
      const top5 = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5);
      process.stderr.write(`${file}: top-5 ${top5.map((c) => `${c} ${IMAGENET_LABELS[c]} (${logits[c].toFixed(2)})`).join(', ')}\n`);
      expect(classes).toContain(top5[0]);
      expectClose(logits, torchLogits[file], { atol: 2e-3, rtol: 1e-4 }, `${file} logits vs PyTorch`);
    });
  }
});
