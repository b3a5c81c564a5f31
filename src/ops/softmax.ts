// Softmax and log-softmax along any axis, numerically stable, with gradients (shaders/softmax.wgsl).
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, type Shape } from '../tensor/index.js';

interface SoftmaxAttrs {
  axis: number;
}

function split(shape: Shape, axis: number): { outer: number; r: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, r: shape[axis]!, inner };
}

/**
 * Few long contiguous rows: a workgroup per row beats an invocation per row. With many rows the
 * invocation per row wins (on lavapipe 7× at [4096, 1000]: the workgroup's barriers are costly).
 */
function useRows(outer: number, r: number, inner: number): boolean {
  return inner === 1 && r >= 256 && outer < 128;
}

/** Runs the forward (`x` the input) or backward (`x` the forward output, `dy` given) kernel. */
function launch(pass: 'forward' | 'backward', logSoftmax: boolean, x: Tensor, axis: number, dy?: Tensor): Tensor {
  const { outer, r, inner } = split(x.shape, axis);
  const out = Tensor.empty(x.shape);
  if (out.size === 0) return out;
  const rows = useRows(outer, r, inner);
  const spec = { family: 'softmax', entry: `${pass}_${rows ? 'rows' : 'strided'}`, defines: { LOG: String(logSoftmax) } };
  const buffers: Record<string, GPUBuffer> = { x: x.buffer, out: out.buffer };
  if (dy) buffers.dy = dy.buffer;
  gpu().run(spec, buffers, { outer, r, inner }, grid(rows ? outer : Math.ceil((outer * inner) / 64)));
  return out;
}

function softmaxFamily(name: string, logSoftmax: boolean) {
  const op = defineOp<SoftmaxAttrs>({
    name,
    forward: ([x], { axis }) => ({ out: launch('forward', logSoftmax, x!, axis) }),
    backward: ({ grad, out, attrs: { axis } }) => [launch('backward', logSoftmax, out, axis, grad)],
  });
  return (x: Tensor, axis = -1): Tensor => {
    assertDtype(x, 'f32', name);
    const a = axis < 0 ? axis + x.rank : axis;
    if (a < 0 || a >= x.rank) throw new TensorError(`${name}: axis ${axis} out of range for rank ${x.rank}`);
    return op([x], { axis: a });
  };
}

/** exp(x − max) / Σ exp(x − max) along `axis` (default: the last). */
export const softmax = softmaxFamily('softmax', false);
/** x − max − log Σ exp(x − max) along `axis` (default: the last). */
export const logSoftmax = softmaxFamily('logSoftmax', true);
