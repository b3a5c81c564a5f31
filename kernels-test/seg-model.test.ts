// eval:seg's and predict:seg's model loader on a checkpoint shaped like the reference's released ones
// (fixtures/pth/checkpoint.pth.tar: {'epoch', 'state_dict' with 'module.' CSG names, 'best_mIoU'}):
// the architecture read off the tensors, the torchvision layout, and logits equal to PyTorch's; the
// layout following a weights file's metadata tag (the npm Caffe weights).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../src/tensor/index.js';
import { noGrad } from '../src/autograd/index.js';
import { loadSegmentationModel } from '../src/train/seg-model.js';
import { toFloat32 } from '../src/io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors-file.js';
import { readPth } from '../src/io/pth.js';
import { layoutMetadata } from '../src/io/weights.js';
import { CAFFE_NORM, IMAGENET_NORM } from '../src/data/augment.js';
import { buildModel } from '../src/train/train-seg.js';
import { parseTrainOptions } from '../src/cli/options.js';
import { useGpu, relL2 } from './helpers.js';

useGpu();

const FIXTURES = join(import.meta.dirname, 'fixtures', 'pth');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'csg-segmodel-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a reference-style .pth.tar checkpoint loads: architecture inferred, torchvision layout, logits equal PyTorch', async () => {
  const loaded = loadSegmentationModel(join(FIXTURES, 'checkpoint.pth.tar'));
  expect(loaded.architecture).toEqual({ layers: [1, 1, 1, 1], width: 2, headWidth: 4, classes: 2, fcOut: 8 });
  expect(loaded.norm).toBe(IMAGENET_NORM);
  expect(loaded.model.layer2.items[0]!).toMatchObject({ conv1: { stride: 1 }, conv2: { stride: 2 } });
  expect(loaded.description).toMatch(/unwrapped 'state_dict'.*'module\.'.*torchvision layout \(stride in the 3×3\), RGB input normalised by ImageNet's mean\/std/s);
  expect(loaded.description).toMatch(/CSG checkpoint, its student encoder_q: DeepLab-ResNet, blocks 1\.1\.1\.1/);
  expect(loaded.unused.some((k) => k.startsWith('encoder_k.'))).toBe(true);

  const expected = readSafetensors(join(FIXTURES, 'checkpoint.expected.safetensors')).tensors;
  const input = expected.get('expected.input')!;
  const want = toFloat32(expected.get('expected.logits')!);
  loaded.model.eval();
  const logits = noGrad(() => loaded.model.forward(Tensor.from(toFloat32(input), input.shape, 'f32')).logits);
  const got = (await logits.read()) as Float32Array;
  expect(got.length).toBe(want.length);
  expect(relL2(got, want)).toBeLessThan(1e-4);
  loaded.model.dispose();
});

test('the layout follows the weights file: a Caffe-tagged file strides in the first 1×1 and takes BGR input', () => {
  const file = join(dir, 'caffe.safetensors');
  writeSafetensors(file, readPth(join(FIXTURES, 'checkpoint.pth.tar')).tensors, layoutMetadata('caffe'));
  const loaded = loadSegmentationModel(file);
  expect(loaded.norm).toBe(CAFFE_NORM);
  expect(loaded.model.layer2.items[0]!).toMatchObject({ conv1: { stride: 2 }, conv2: { stride: 1 } });
  expect(loaded.description).toMatch(/Caffe\/Keras layout \(stride in the first 1×1\).*from its metadata/s);
  loaded.model.dispose();
});

test('train:seg --weights: the layout follows the file (untagged: torchvision; tagged Caffe: stride in the 1×1, BGR)', async () => {
  const backbone = new Map([...readPth(join(FIXTURES, 'checkpoint.pth.tar')).tensors].filter(([k]) => k.startsWith('encoder_q.')).map(([k, v]) => [k.slice(10), v]));
  const flags = ['--layers', '1.1.1.1', '--width', '2', '--head-width', '4', '--K', '64', '--batch', '1', '--chunks', '2'];
  for (const [layout, norm, strides] of [
    ['torchvision', IMAGENET_NORM, [1, 2]],
    ['caffe', CAFFE_NORM, [2, 1]],
  ] as const) {
    const file = join(dir, `backbone-${layout}.safetensors`);
    writeSafetensors(file, backbone, layout === 'caffe' ? layoutMetadata('caffe') : undefined);
    const lines: string[] = [];
    const built = await buildModel(parseTrainOptions([...flags, '--weights', file]), 2, (l) => lines.push(l));
    expect(built.layout).toBe(layout);
    expect(built.norm).toBe(norm);
    expect(built.model.encoder_q.layer2.items[0]!).toMatchObject({ conv1: { stride: strides[0] }, conv2: { stride: strides[1] } });
    expect(built.model.encoder_k.layer2.items[0]!).toMatchObject({ conv1: { stride: strides[0] }, conv2: { stride: strides[1] } });
    expect(lines[0]).toMatch(layout === 'caffe' ? /Caffe\/Keras layout .*from its metadata/ : /torchvision layout .*no layout tag/);
    built.model.dispose();
  }
});
