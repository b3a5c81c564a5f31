// Max pooling (with saved arg-max indices) and global average pooling over NCHW.
// WGSL: shaders/pool.wgsl · reference: kernels-test/ref/pool.ts · test: kernels-test/pool.test.ts
import { gpu } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr } from '../tensor/index.js';
import { mean, reshape } from './reduce.js';

export interface MaxPoolOptions {
  kernel?: number;
  stride?: number;
  padding?: number;
}

interface MaxPoolAttrs {
  planes: number;
  params: { h: number; w: number; outH: number; outW: number };
  window: { KERNEL: number; STRIDE: number; PADDING: number };
}

const maxPoolOp = defineOp<MaxPoolAttrs>({
  name: 'maxPool2d',
  reads: { inputs: [], out: false },
  forward: ([x], { planes, params, window }) => {
    const [n, c] = x!.shape as [number, number];
    const out = Tensor.empty([n, c, params.outH, params.outW]);
    const argmax = Tensor.empty(out.shape, 'u32');
    gpu().run(
      { family: 'pool', entry: 'max_forward', overrides: window },
      { x: x!.binding, out: out.binding, argmax: argmax.binding },
      params,
      [Math.ceil(params.outW / 64), params.outH, planes],
    );
    return { out, saved: [argmax] };
  },
  backward: ({ grad, inputs: [x], saved: [argmax], attrs: { planes, params, window } }) => {
    const gx = Tensor.empty(x!.shape);
    gpu().run(
      { family: 'pool', entry: 'max_backward', overrides: window },
      { dy: grad.binding, argmax: argmax!.binding, out: gx.binding },
      params,
      [Math.ceil(params.w / 64), params.h, planes],
    );
    return [gx];
  },
});

// x [N, C, H, W] → [N, C, Ho, Wo]
/** nn.MaxPool2d (square window, floor mode); out-of-range positions never win (padding is -inf). */
export function maxPool2d(x: Tensor, { kernel = 3, stride = 2, padding = 1 }: MaxPoolOptions = {}): Tensor {
  const where = 'maxPool2d';
  assertDtype(x, 'f32', where);
  if (x.rank !== 4) throw new TensorError(`${where}: expected an NCHW input, got ${shapeStr(x.shape)}`);
  for (const [v, what, min] of [[kernel, 'kernel', 1], [stride, 'stride', 1], [padding, 'padding', 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new TensorError(`${where}: ${what} must be an integer ≥ ${min}, got ${v}`);
  }
  if (padding > kernel / 2) throw new TensorError(`${where}: padding ${padding} must be at most half the kernel ${kernel}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const outH = Math.floor((h + 2 * padding - kernel) / stride) + 1;
  const outW = Math.floor((w + 2 * padding - kernel) / stride) + 1;
  if (outH < 1 || outW < 1) throw new TensorError(`${where}: input ${shapeStr(x.shape)} is smaller than the ${kernel}×${kernel} window`);
  return maxPoolOp([x], { planes: n * c, params: { h, w, outH, outW }, window: { KERNEL: kernel, STRIDE: stride, PADDING: padding } });
}

// x [N, C, H, W] → [N, C, 1, 1]
/** Mean over H and W: [N,C,H,W] → [N,C,1,1] (nn.AdaptiveAvgPool2d(1)). */
export function globalAvgPool(x: Tensor): Tensor {
  assertDtype(x, 'f32', 'globalAvgPool');
  if (x.rank !== 4) throw new TensorError(`globalAvgPool: expected an NCHW input, got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h * w === 0) throw new TensorError(`globalAvgPool: empty spatial size in ${shapeStr(x.shape)}`);
  return reshape(mean(reshape(x, [n, c, h * w]), 2), [n, c, 1, 1]);
}
