// TEMPORARY (branch nn): throwing stand-ins with the signatures of docs/DESIGN.md for ops that land
// from other branches, so src/nn type-checks before the merge. DELETE THIS FILE (and its line in
// index.ts) when conv, norm, pool, resize, shape, dropout and matmul are merged.
import type { Tensor } from '../tensor/index.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
}
export interface BatchNorm2dOptions {
  training: boolean;
  momentum?: number;
  eps?: number;
  affineGrad?: boolean;
}
export interface MaxPool2dOptions {
  kernel?: number;
  stride?: number;
  padding?: number;
}

/** A throwing function tagged with the branch it comes from (tests look for the tag). */
function pending<F extends (...args: any[]) => Tensor>(name: string, branch: string): F {
  const f = (() => {
    throw new Error(`pending: ${name} lands from branch ${branch}`);
  }) as unknown as F;
  return Object.assign(f, { pendingFrom: branch });
}

export const conv2d = pending<(x: Tensor, weight: Tensor, bias: Tensor | null, options?: Conv2dOptions) => Tensor>('conv2d', 'conv');
export const batchNorm2d = pending<
  (x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, options: BatchNorm2dOptions) => Tensor
>('batchNorm2d', 'layers');
export const maxPool2d = pending<(x: Tensor, options?: MaxPool2dOptions) => Tensor>('maxPool2d', 'layers');
export const globalAvgPool = pending<(x: Tensor) => Tensor>('globalAvgPool', 'layers');
export const interpolateBilinear = pending<(x: Tensor, size: [number, number], alignCorners: boolean) => Tensor>('interpolateBilinear', 'layers');
export const concat = pending<(tensors: Tensor[], axis: number) => Tensor>('concat', 'layers');
export const dropout = pending<(x: Tensor, p: number, seed: number) => Tensor>('dropout', 'layers');
export const linear = pending<(x: Tensor, weight: Tensor, bias: Tensor | null) => Tensor>('linear', 'matmul');
export const crossEntropy = pending<(logits: Tensor, labels: Tensor, ignoreIndex?: number) => Tensor>('crossEntropy', 'layers');
