// One image through a segmentation checkpoint, the same way in Node and in the web page: the model
// is rebuilt from the checkpoint's own tensor shapes (and its `training_options` metadata when
// present), the image normalised as in training, and the labels and class shares read back.
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { argmax } from '../ops/index.js';
import { DeepLabResNet } from '../nn/index.js';
import { CsgDeepLab, CSG_DIM } from '../csg/model.js';
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
  /** The whole CSG model when the checkpoint holds one (it can then be trained further). */
  csg: CsgDeepLab | null;
  /** The network that segments (the CSG student, or the plain DeepLab). */
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

/** Builds the model a checkpoint describes and loads it (every entry must fit). */
export function loadSegModel(file: SafetensorsFile, name: string): SegModel {
  const config = checkpointConfig(file, name);
  const options = { layers: config.layers, width: config.width, headWidth: config.headWidth, classes: config.classes, strideIn1x1: config.caffe };
  const state = hostTensors(file.tensors);
  let csg: CsgDeepLab | null = null;
  let net: DeepLabResNet;
  if (config.queueSize !== null) {
    csg = new CsgDeepLab({ ...options, queueSize: config.queueSize });
    csg.loadStateDict(state);
    net = csg.encoder_q;
  } else {
    const isStudentOnly = [...state.keys()].some((k) => k.startsWith('encoder_q.'));
    const own = isStudentOnly ? new Map([...state].filter(([k]) => k.startsWith('encoder_q.')).map(([k, v]) => [k.slice('encoder_q.'.length), v])) : state;
    net = new DeepLabResNet({ ...options, fcOut: isStudentOnly ? CSG_DIM : null });
    // Extra entries (the teacher, projection heads) are not needed to segment; a missing one is an error.
    const { missing } = net.loadStateDict(own, { strict: false });
    if (missing.length) throw new SafetensorsError(name, missing[0], `missing (${missing.length} model entries are not in the file)`);
  }
  return { config, csg, net, norm: config.caffe ? CAFFE_NORM : IMAGENET_NORM };
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
