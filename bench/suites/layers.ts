// Layer ops at DeepLab-like sizes (scaled to what lavapipe runs in well under a second). `bytes` is
// the minimum traffic of the kernels' passes (each pass reading or writing a whole tensor once).
import { Tensor, scope, sizeOf as size } from '../../src/tensor/index.js';
import { backward, zeroGrad } from '../../src/autograd/index.js';
import { batchNorm2d, maxPool2d, interpolateBilinear, crossEntropy } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';

function filled(shape: number[], f: (i: number) => number, dtype: 'f32' | 'i32' = 'f32'): Tensor {
  return Tensor.from(Array.from({ length: size(shape) }, (_, i) => f(i)), shape, dtype).keep();
}

const wave = (i: number) => Math.sin(i * 0.37) * 2;

/** A case whose iteration runs `op` (and its backward with a seed gradient when `withBackward`). */
function layerCase(name: string, shape: number[], bytes: number, inputs: () => Tensor[], op: (xs: Tensor[]) => Tensor, withBackward: boolean): BenchCase {
  let xs: Tensor[] = [];
  let seed: Tensor | null = null;
  return {
    name,
    shape: `[${shape.join(', ')}]`,
    bytes,
    setup: () => {
      xs = inputs();
      if (withBackward) xs.forEach((x) => x.dtype === 'f32' && (x.requiresGrad = true));
      return () =>
        scope(() => {
          const out = op(xs);
          if (!withBackward) return;
          seed ??= filled([...out.shape], wave);
          backward(out, seed);
          zeroGrad(xs);
        });
    },
    dispose: () => {
      xs.forEach((x) => x.dispose());
      seed?.dispose();
      seed = null;
    },
  };
}

export function layerCases(): BenchCase[] {
  const bn = [2, 64, 64, 64];
  const c = bn[1]!;
  let runningMean: Tensor, runningVar: Tensor;
  const bnInputs = () => {
    runningMean = filled([c], () => 0);
    runningVar = filled([c], () => 1);
    return [filled(bn, wave), filled([c], () => 1), filled([c], () => 0)];
  };
  const pool = [2, 64, 128, 128];
  const up = [2, 19, 16, 16];
  const upOut: [number, number] = [128, 128];
  const upOutSize = 2 * 19 * 128 * 128;
  const logits = [2, 19, 128, 128];
  const ceInputs = () => [filled(logits, wave), filled([2, 128, 128], (i) => (i % 7 === 0 ? 255 : i % 19), 'i32')];
  return [
    // Forward: 2 statistics passes + normalise (read, write); backward: sums (x, dy) + input gradient (x, dy, write).
    layerCase('batchNorm2d train forward+backward', bn, 4 * size(bn) * 9, bnInputs, ([x, w, b]) => batchNorm2d(x!, w!, b!, runningMean, runningVar, { training: true }), true),
    layerCase('batchNorm2d frozen forward', bn, 4 * size(bn) * 2, bnInputs, ([x, w, b]) => batchNorm2d(x!, w!, b!, runningMean, runningVar, { training: false }), false),
    // Forward reads x, writes the output and its arg-max (a quarter of x each).
    layerCase('maxPool2d 3×3/2 forward', pool, 4 * size(pool) * 1.5, () => [filled(pool, wave)], ([x]) => maxPool2d(x!), false),
    layerCase('maxPool2d 3×3/2 forward+backward', pool, 4 * size(pool) * 3, () => [filled(pool, wave)], ([x]) => maxPool2d(x!), true),
    layerCase('bilinear up 16²→128² align_corners=true forward', up, 4 * (size(up) + upOutSize), () => [filled(up, wave)], ([x]) => interpolateBilinear(x!, upOut, true), false),
    layerCase('bilinear up 16²→128² forward+backward', up, 8 * (size(up) + upOutSize), () => [filled(up, wave)], ([x]) => interpolateBilinear(x!, upOut, true), true),
    // Forward reads the logits (max, then exp-sum); backward reads them and writes their gradient.
    layerCase('crossEntropy 19 classes forward', logits, 4 * size(logits) * 2, ceInputs, ([x, l]) => crossEntropy(x!, l!), false),
    layerCase('crossEntropy 19 classes forward+backward', logits, 4 * size(logits) * 4, ceInputs, ([x, l]) => crossEntropy(x!, l!), true),
  ];
}
