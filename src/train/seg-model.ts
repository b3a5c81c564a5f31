// The segmentation network of a checkpoint, for eval:seg and predict:seg: a run folder, one of our
// checkpoints (CSG official names: its encoder_q is used), a plain DeepLab state dict, or a PyTorch
// .pth/.pth.tar (the reference's released checkpoints included). The architecture (blocks per stage,
// widths, classes) is read off the tensors' names and shapes, and the backbone layout and input
// normalisation follow the weights file (see readWeights).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DeepLabResNet } from '../nn/index.js';
import { readWeights, describeWeights, type WeightsFile } from '../io/weights.js';
import type { StateDict } from '../io/safetensors.js';
import { hostTensors, resolveCheckpoint, readTrainerState } from './checkpoint.js';
import { CAFFE_NORM, IMAGENET_NORM, type Normalization } from '../data/augment.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from '../data/cityscapes.js';
import { digitsClassNames, digitsPalette } from '../data/render-digits.js';

export interface SegArchitecture {
  layers: number[];
  width: number;
  headWidth: number;
  classes: number;
  /** Output size of the `fc` linear layer of a CSG encoder (its key dimension), or null. */
  fcOut: number | null;
}

export interface LoadedSegModel {
  model: DeepLabResNet;
  norm: Normalization;
  /** The file read (a run folder resolves to its latest checkpoint). */
  file: string;
  weights: WeightsFile;
  architecture: SegArchitecture;
  /** The start-up line: format, what was unwrapped, layout and normalisation. */
  description: string;
  /** Entries not used by the segmentation network (a CSG checkpoint's teacher, queues, fc_csg). */
  unused: string[];
}

/** A run folder or checkpoint folder → its checkpoint.safetensors; a file stays as it is. */
export function resolveWeightsFile(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return join(resolveCheckpoint(path), 'checkpoint.safetensors');
  return path;
}

/** Blocks per stage, widths and classes from the names and shapes of a DeepLab-ResNet state dict. */
export function inferSegArchitecture(state: StateDict, file: string): SegArchitecture {
  const shape = (name: string): number[] => {
    const t = state.get(name);
    if (!t) throw new Error(`${file}: no ${name}: not a DeepLab-ResNet segmentation state dict (names like conv1.weight, layer1.0.conv1.weight, fc_new.conv2d_list.0.4.weight)`);
    return t.shape;
  };
  const layers = [1, 2, 3, 4].map((s) => {
    let blocks = 0;
    while (state.has(`layer${s}.${blocks}.conv1.weight`)) blocks++;
    if (blocks === 0) shape(`layer${s}.0.conv1.weight`);
    return blocks;
  });
  const classifier = shape('fc_new.conv2d_list.0.4.weight');
  return {
    layers,
    width: shape('conv1.weight')[0]!,
    headWidth: classifier[1]!,
    classes: classifier[0]!,
    fcOut: state.has('fc.weight') ? shape('fc.weight')[0]! : null,
  };
}

/** The checkpoint's file and tensors, on the CPU: a bad file is reported before the GPU starts. */
export function readSegmentationCheckpoint(path: string): { file: string; weights: WeightsFile } {
  const file = resolveWeightsFile(path);
  return { file, weights: readWeights(file) };
}

export function loadSegmentationModel(path: string, read = readSegmentationCheckpoint(path)): LoadedSegModel {
  const { file, weights } = read;
  const isCsg = [...weights.tensors.keys()].some((k) => k.startsWith('encoder_q.'));
  const state: StateDict = isCsg
    ? new Map([...weights.tensors].filter(([k]) => k.startsWith('encoder_q.')).map(([k, v]) => [k.slice('encoder_q.'.length), v]))
    : weights.tensors;
  const architecture = inferSegArchitecture(state, file);
  const model = new DeepLabResNet({ ...architecture, strideIn1x1: weights.layout === 'caffe' });
  const { unexpected, missing } = model.loadStateDict(hostTensors(state), { strict: false });
  if (missing.length) throw new Error(`${file}: lacks ${missing.length} entries of the segmentation network, e.g. ${missing.slice(0, 4).join(', ')}`);
  const unused = [...(isCsg ? [...weights.tensors.keys()].filter((k) => !k.startsWith('encoder_q.')) : []), ...unexpected.map((k) => (isCsg ? `encoder_q.${k}` : k))];
  const a = architecture;
  const description =
    `${describeWeights(file, weights)}\n` +
    `${isCsg ? 'CSG checkpoint, its student encoder_q: ' : ''}DeepLab-ResNet, blocks ${a.layers.join('.')}, width ${a.width}, head width ${a.headWidth}, ${a.classes} classes` +
    (unused.length ? ` (${unused.length} entries not used for segmentation, e.g. ${unused[0]})` : '');
  return { model, norm: weights.layout === 'caffe' ? CAFFE_NORM : IMAGENET_NORM, file, weights, architecture, description, unused };
}

export interface ClassInfo {
  names: string[];
  palette: [number, number, number][];
  /** Where they came from, for the start-up line. */
  source: string;
}

/**
 * Names and colours of a checkpoint's classes: the embedded digits task's when its run says it was
 * trained on it, Cityscapes' trainIds for 19 classes, else numbered classes in Cityscapes' colours.
 */
export function classInfo(file: string, classes: number): ClassInfo {
  let train: string | undefined;
  const dir = dirname(file);
  if (existsSync(join(dir, 'trainer.json'))) train = (readTrainerState(dir).options as { train?: string } | undefined)?.train;
  if (train === 'digits' && (classes === 2 || classes === 11)) return { names: digitsClassNames(classes), palette: digitsPalette(classes), source: 'the embedded digits task (its run)' };
  if (classes === CITYSCAPES_CLASSES.length) return { names: [...CITYSCAPES_CLASSES], palette: CITYSCAPES_PALETTE.map((c) => [...c] as [number, number, number]), source: 'Cityscapes trainIds' };
  return {
    names: Array.from({ length: classes }, (_, k) => `class ${k}`),
    palette: Array.from({ length: classes }, (_, k) => [...CITYSCAPES_PALETTE[k % CITYSCAPES_PALETTE.length]!] as [number, number, number]),
    source: `${classes} numbered classes in the Cityscapes colours`,
  };
}
