// Softmax and log-softmax along any axis, numerically stable, with gradients (shaders/softmax.wgsl).
import { gpu, grid } from '../gpu/index.js';
import { Tensor, defineOp, assertDtype } from '../tensor/index.js';
import { normaliseAxis, split } from './reduce.js';

interface SoftmaxAttrs {
  axis: number;
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
    return op([x], { axis: normaliseAxis(x, axis, name) });
  };
}

/** exp(x − max) / Σ exp(x − max) along `axis` (default: the last). */
export const softmax = softmaxFamily('softmax', false);
/** x − max − log Σ exp(x − max) along `axis` (default: the last). */
export const logSoftmax = softmaxFamily('logSoftmax', true);
