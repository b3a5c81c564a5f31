// The norms: batch norm 2d over NCHW (PyTorch's nn.BatchNorm2d in training and in frozen (eval)
// mode) and L2 normalisation of rows (F.normalize).
// WGSL: shaders/norm.wgsl · reference: kernels-test/ref/norm.ts · test: kernels-test/norm.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, assertShape, shapeStr } from '../tensor/index.js';

export interface BatchNormOptions {
  /** Batch statistics (and running statistics updated in place) when true; running statistics when false. */
  training: boolean;
  momentum?: number;
  eps?: number;
  /** Whether weight and bias receive gradients (false: frozen affine parameters). */
  affineGrad?: boolean;
}

interface BatchNormAttrs {
  training: boolean;
  affineGrad: boolean;
  params: { n: number; c: number; hw: number; momentum: number; eps: number };
  runningMean: Tensor;
  runningVar: Tensor;
}

const kernel = (entry: string) => ({ family: 'norm', entry });

/** Elementwise passes: 256-wide pieces of each H·W plane × channels × batch. */
const planeGrid = ({ n, c, hw }: BatchNormAttrs['params']) => [Math.ceil(hw / 256), c, n] as const;

const batchNormOp = defineOp<BatchNormAttrs>({
  name: 'batchNorm2d',
  // grad_affine and training's input gradient read x and weight; frozen without affine gradients reads
  // only its saved scale (so the backbone's conv → frozen BN → ReLU keeps no norm input).
  reads: ({ training, affineGrad }) => (training || affineGrad ? { inputs: [0, 1], out: false } : { inputs: [], out: false }),
  forward: ([x, weight, bias], { training, params, runningMean, runningVar }) => {
    const mean = Tensor.empty([params.c]);
    const invstd = Tensor.empty([params.c]);
    const scaleShift = Tensor.empty([params.c, 2]);
    const stats = {
      weight: weight!.binding,
      bias: bias!.binding,
      mean: mean.binding,
      invstd: invstd.binding,
      scaleShift: scaleShift.binding,
      runningMean: runningMean.binding,
      runningVar: runningVar.binding,
    };
    if (training) {
      gpu().run(kernel('stats_train'), { ...stats, x: x!.binding }, params, grid(params.c));
      runningMean.markWritten();
      runningVar.markWritten();
    } else gpu().run(kernel('stats_frozen'), stats, params, [Math.ceil(params.c / 64)]);
    const out = Tensor.empty(x!.shape);
    gpu().run(kernel('normalize'), { x: x!.binding, scaleShift: scaleShift.binding, out: out.binding }, params, planeGrid(params));
    return { out, saved: [mean, invstd, scaleShift] };
  },
  backward: ({ grad, inputs: [x, weight, bias], saved: [mean, invstd, scaleShift], attrs: { training, affineGrad, params } }) => {
    const wantAffine = affineGrad && (weight!.requiresGrad || bias!.requiresGrad);
    const wantInput = x!.requiresGrad;
    let gradWeight: Tensor | null = null;
    let gradBias: Tensor | null = null;
    let gradCoeffs: Tensor | null = null;
    // Training's input gradient needs the per-channel sums whether or not the affine grads are wanted.
    if (wantAffine || (training && wantInput)) {
      gradWeight = Tensor.empty([params.c]);
      gradBias = Tensor.empty([params.c]);
      gradCoeffs = Tensor.empty([params.c, 4]);
      gpu().run(
        kernel('grad_affine'),
        {
          x: x!.binding,
          dy: grad.binding,
          weight: weight!.binding,
          mean: mean!.binding,
          invstd: invstd!.binding,
          gradWeight: gradWeight.binding,
          gradBias: gradBias.binding,
          gradCoeffs: gradCoeffs.binding,
        },
        params,
        grid(params.c),
      );
    }
    let gradX: Tensor | null = null;
    if (wantInput) {
      gradX = Tensor.empty(x!.shape);
      if (training) {
        gpu().run(kernel('grad_input_train'), { dy: grad.binding, x: x!.binding, gradCoeffs: gradCoeffs!.binding, out: gradX.binding }, params, planeGrid(params));
      } else {
        gpu().run(kernel('grad_input_frozen'), { dy: grad.binding, scaleShift: scaleShift!.binding, out: gradX.binding }, params, planeGrid(params));
      }
    }
    gradCoeffs?.dispose();
    if (!wantAffine) {
      gradWeight?.dispose();
      gradBias?.dispose();
      return [gradX, null, null];
    }
    return [gradX, gradWeight, gradBias];
  },
});

// x [N, C, H, W], weight/bias/runningMean/runningVar [C] → [N, C, H, W]
/**
 * nn.BatchNorm2d. Training: normalises with the batch statistics (biased variance) and updates
 * runningMean/runningVar in place on the GPU (unbiased variance, momentum). Frozen: normalises with
 * the running statistics; the input gets a gradient, weight and bias only when `affineGrad`.
 */
export function batchNorm2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  { training, momentum = 0.1, eps = 1e-5, affineGrad = true }: BatchNormOptions,
): Tensor {
  const where = 'batchNorm2d';
  assertDtype(x, 'f32', where);
  if (x.rank !== 4) throw new TensorError(`${where}: expected an NCHW input, got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  for (const [t, what] of [[weight, 'weight'], [bias, 'bias'], [runningMean, 'runningMean'], [runningVar, 'runningVar']] as const) {
    assertDtype(t, 'f32', `${where} ${what}`);
    assertShape(t, [c], `${where} ${what}`);
  }
  if (training && n * h * w < 2) throw new TensorError(`${where}: training needs more than 1 value per channel, got input ${shapeStr(x.shape)}`);
  if (!(eps > 0)) throw new TensorError(`${where}: eps must be positive, got ${eps}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new TensorError(`${where}: momentum must be in [0, 1], got ${momentum}`);
  return batchNormOp([x, weight, bias], { training, affineGrad, runningMean, runningVar, params: { n, c, hw: h * w, momentum, eps } });
}

export interface FrozenBatchNorm {
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  eps: number;
}

// convWeight [O, C, kh, kw], convBias [O] | null, bn [O] → weight [O, C, kh, kw] and bias [O]
/**
 * A convolution followed by batch norm with its running statistics, as one convolution: per output
 * channel o, weight·s and β + (bias − mean)·s with s = γ / √(var + eps), the norm's own frozen
 * coefficients (stats_frozen). Off the tape (inference): it saves the norm's pass over the activations.
 */
export function foldBatchNorm(convWeight: Tensor, convBias: Tensor | null, bn: FrozenBatchNorm): { weight: Tensor; bias: Tensor } {
  const o = convWeight.shape[0]!;
  for (const [t, what] of [[bn.weight, 'weight'], [bn.bias, 'bias'], [bn.runningMean, 'runningMean'], [bn.runningVar, 'runningVar'], ...(convBias ? [[convBias, 'conv bias'] as const] : [])] as const) {
    assertShape(t, [o], `foldBatchNorm ${what}`);
  }
  const [mean, invstd, scaleShift] = [Tensor.empty([o]), Tensor.empty([o]), Tensor.empty([o, 2])];
  const perChannel = convWeight.size / o;
  const params = { n: convBias ? 1 : 0, c: o, hw: perChannel, momentum: 0, eps: bn.eps };
  const stats = { weight: bn.weight.binding, bias: bn.bias.binding, mean: mean.binding, invstd: invstd.binding, scaleShift: scaleShift.binding, runningMean: bn.runningMean.binding, runningVar: bn.runningVar.binding };
  gpu().run(kernel('stats_frozen'), stats, params, [Math.ceil(o / 64)]);
  const weight = Tensor.empty(convWeight.shape);
  const bias = Tensor.empty([o]);
  const buffers = { convWeight: convWeight.binding, convBias: (convBias ?? bn.bias).binding, scaleShift: scaleShift.binding, foldedWeight: weight.binding, foldedBias: bias.binding };
  gpu().run(kernel('fold_conv'), buffers, params, grid(Math.ceil(convWeight.size / 64)));
  for (const t of [mean, invstd, scaleShift]) t.dispose();
  return { weight, bias };
}

// ---------------------------------------------------------------------------------------------
// L2 normalisation of rows, x / max(‖x‖, eps) as PyTorch's F.normalize.

/** A launch over rows [rows, dim]: one invocation per row (l2_norms) or per element (the others). */
function runRows(entry: string, buffers: Record<string, GPUBufferBinding>, rows: number, dim: number, eps: number, invocations: number): void {
  gpu().run(kernel(entry), buffers, { rows, dim, eps }, grid(Math.ceil(invocations / 64)));
}

const l2NormalizeOp = defineOp<{ eps: number }>({
  name: 'l2Normalize',
  reads: { inputs: [], out: true },
  forward: ([x], { eps }) => {
    const [n, d] = x!.shape as [number, number];
    const norms = Tensor.empty([n]);
    runRows('l2_norms', { x: x!.binding, norms: norms.binding }, n, d, eps, n);
    const out = Tensor.empty(x!.shape);
    runRows('l2_forward', { x: x!.binding, norms: norms.binding, out: out.binding }, n, d, eps, n * d);
    return { out, saved: [norms] };
  },
  backward: ({ grad, out, saved: [norms], attrs: { eps } }) => {
    const [n, d] = out.shape as [number, number];
    const dx = Tensor.empty(out.shape);
    runRows('l2_backward', { unit: out.binding, dy: grad.binding, norms: norms!.binding, out: dx.binding }, n, d, eps, n * d);
    return [dx];
  },
});

// x [N, D] → [N, D]
/** Each row normalised to unit length: x / max(‖x‖, eps). */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  assertDtype(x, 'f32', 'l2Normalize');
  if (x.rank !== 2) throw new TensorError(`l2Normalize: expected rows [N, D], got ${shapeStr(x.shape)}`);
  return l2NormalizeOp([x], { eps });
}
