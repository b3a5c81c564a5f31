// One image through a segmentation checkpoint, the same way in Node and in the web page: the model
// is rebuilt from the checkpoint's own tensor shapes (and its `training_options` metadata when
// present), the image normalised as in training, and the labels and class shares read back.
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { argmax } from '../ops/index.js';
import type { DeepLabResNet } from '../nn/index.js';
import { CsgDeepLab } from '../csg/model.js';
import { hostTensors, SafetensorsError, type SafetensorsFile } from '../io/safetensors.js';
import { CAFFE_NORM, IMAGENET_NORM, normalizeImage, type Normalization } from '../data/augment.js';

export interface SegModelConfig {
  layers: number[];
  width: number;
  headWidth: number;
  classes: number;
  /** Started from the Caffe/Keras ImageNet ResNet-50: stride on the first 1×1 and Caffe input normalisation. */
  caffe: boolean;
  /** Where `caffe` came from: the checkpoint's metadata, or a guess from the width (64 = the ImageNet default run). */
  caffeFrom: 'metadata' | 'width';
  /** Keys per queue when the file is a whole CSG model (student, teacher, queues), else null. */
  queueSize: number | null;
}

export interface SegModel {
  config: SegModelConfig;
  /** The whole CSG model: from the file when it holds one, else the file's network as the student with
   *  the teacher copied from it and fresh queues (so that any checkpoint can be trained further). */
  csg: CsgDeepLab;
  /** The network that segments: the CSG student. */
  net: DeepLabResNet;
  norm: Normalization;
}

/** The architecture of a checkpoint: a CSG run's checkpoint.safetensors or a plain DeepLab state dict. */
export function checkpointConfig(file: SafetensorsFile, name: string): SegModelConfig {
  const t = file.tensors;
  const prefix = [...t.keys()].some((k) => k.startsWith('encoder_q.')) ? 'encoder_q.' : '';
  const shape = (key: string): number[] => {
    const e = t.get(prefix + key);
    if (!e) throw new SafetensorsError(name, prefix + key, 'missing: not a DeepLab segmentation checkpoint');
    return e.shape;
  };
  const layers = [1, 2, 3, 4].map((stage) => {
    let blocks = 0;
    while (t.has(`${prefix}layer${stage}.${blocks}.conv1.weight`)) blocks++;
    return blocks;
  });
  if (layers.some((b) => b === 0)) throw new SafetensorsError(name, undefined, `no blocks found for some ResNet stage (blocks per stage: ${layers.join('.')})`);
  const width = shape('conv1.weight')[0]!;
  let caffe = width === 64;
  let caffeFrom: SegModelConfig['caffeFrom'] = 'width';
  if (file.metadata.training_options) {
    caffe = (JSON.parse(file.metadata.training_options) as { weights?: string }).weights === 'imagenet';
    caffeFrom = 'metadata';
  }
  const queue = t.get('queue3');
  return {
    layers,
    width,
    headWidth: shape('fc_new.conv2d_list.0.0.convs.0.0.weight')[0]!,
    classes: shape('fc_new.conv2d_list.0.4.weight')[0]!,
    caffe,
    caffeFrom,
    queueSize: prefix && queue ? queue.shape[1]! : null,
  };
}

/** Keys per queue when the file has no queue of its own: the embedded task's K. */
const DEFAULT_QUEUE_SIZE = 1024;

/** Builds the model a checkpoint describes and loads it (every segmentation entry must be in the file). */
export function loadSegModel(file: SafetensorsFile, name: string): SegModel {
  const config = checkpointConfig(file, name);
  const state = hostTensors(file.tensors);
  const csg = new CsgDeepLab({
    layers: config.layers,
    width: config.width,
    headWidth: config.headWidth,
    classes: config.classes,
    strideIn1x1: config.caffe,
    queueSize: config.queueSize ?? DEFAULT_QUEUE_SIZE,
  });
  if (config.queueSize !== null) {
    csg.loadStateDict(state);
  } else {
    const prefix = [...state.keys()].some((k) => k.startsWith('encoder_q.')) ? 'encoder_q.' : '';
    const student = new Map([...state].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    // The projection heads (fc, fc_csg) only serve CSG's loss: a file without them starts them afresh.
    const { missing } = csg.encoder_q.loadStateDict(student, { strict: false });
    const needed = missing.filter((k) => !k.startsWith('fc.') && !k.startsWith('fc_csg.'));
    if (needed.length) throw new SafetensorsError(name, prefix + needed[0], `missing (${needed.length} segmentation entries are not in the file)`);
    csg.syncTeacher();
  }
  return { config, csg, net: csg.encoder_q, norm: config.caffe ? CAFFE_NORM : IMAGENET_NORM };
}

export interface Segmentation {
  /** [H, W] class per pixel. */
  labels: Uint8Array;
  /** Fraction of the pixels given to each class. */
  shares: number[];
}

/** Segments one RGB image ([H, W, 3] bytes) in eval mode. */
export async function segmentImage(model: SegModel, rgb: Uint8Array, width: number, height: number): Promise<Segmentation> {
  if (rgb.length !== width * height * 3) throw new RangeError(`segmentImage: ${rgb.length} bytes for a ${width}×${height} RGB image (${width * height * 3} expected)`);
  const { net } = model;
  const wasTraining = net.training;
  net.eval();
  try {
    const input = normalizeImage(rgb, width, height, model.norm);
    const pred = noGrad(() => scope(() => argmax(net.forward(Tensor.from(input, [1, 3, height, width])).logits, 1)));
    const labels = Uint8Array.from((await pred.read()) as Uint32Array);
    pred.dispose();
    const counts = new Array<number>(net.classes).fill(0);
    for (const l of labels) counts[l]!++;
    return { labels, shares: counts.map((c) => c / labels.length) };
  } finally {
    net.train(wasTraining);
  }
}
