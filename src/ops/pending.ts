// TEMPORARY (branch nn): throwing stand-ins with the signatures of docs/DESIGN.md for ops that land
// from other branches, so src/nn type-checks before the merge. DELETE THIS FILE (and its line in
// index.ts) when conv, norm, pool, resize, shape, dropout and matmul are merged.
import type { Tensor } from '../tensor/index.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
}

/** A throwing function tagged with the branch it comes from (tests look for the tag). */
function pending<F extends (...args: any[]) => Tensor>(name: string, branch: string): F {
  const f = (() => {
    throw new Error(`pending: ${name} lands from branch ${branch}`);
  }) as unknown as F;
  return Object.assign(f, { pendingFrom: branch });
}

export const conv2d = pending<(x: Tensor, weight: Tensor, bias: Tensor | null, options?: Conv2dOptions) => Tensor>('conv2d', 'conv');
export const linear = pending<(x: Tensor, weight: Tensor, bias: Tensor | null) => Tensor>('linear', 'matmul');
