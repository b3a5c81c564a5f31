// Softmax and log-softmax along any axis, numerically stable, with gradients (shaders/softmax.wgsl).
// WGSL: shaders/softmax.wgsl · reference: kernels-test/ref/softmax.ts · test: kernels-test/softmax.test.ts
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

type Layout = 'rows' | 'strided' | 'inner4' | 'row4';

function layoutOf(outer: number, r: number, inner: number): Layout {
  if (useRows(outer, r, inner)) return 'rows';
  if (inner % 4 === 0) return 'inner4';
  if (inner === 1 && r % 4 === 0) return 'row4';
  return 'strided';
}

/** Runs the forward (`x` the input) or backward (`x` the forward output, `dy` given) kernel. */
function launch(pass: 'forward' | 'backward', logSoftmax: boolean, x: Tensor, axis: number, dy?: Tensor): Tensor {
  const { outer, r, inner } = split(x.shape, axis);
  const out = Tensor.empty(x.shape);
  if (out.size === 0) return out;
  const layout = layoutOf(outer, r, inner);
  const spec = { family: 'softmax', entry: `${pass}_${layout}`, defines: { LOG: String(logSoftmax) } };
  const vec4 = layout === 'inner4' || layout === 'row4';
  const buffers: Record<string, GPUBufferBinding> = vec4 ? { x4: x.binding, out4: out.binding } : { x: x.binding, out: out.binding };
  if (dy) buffers[vec4 ? 'dy4' : 'dy'] = dy.binding;
  // rows: a workgroup per row; the others: an invocation per line (of 4 lines for inner4), 64 per workgroup.
  const lines = { rows: 0, strided: outer * inner, inner4: (outer * inner) / 4, row4: outer }[layout];
  gpu().run(spec, buffers, { outer, r, inner }, grid(layout === 'rows' ? outer : Math.ceil(lines / 64)));
  return out;
}

function softmaxFamily(name: string, logSoftmax: boolean) {
  const op = defineOp<SoftmaxAttrs>({
    name,
    reads: { inputs: [], out: true },
    forward: ([x], { axis }) => ({ out: launch('forward', logSoftmax, x!, axis) }),
    backward: ({ grad, out, attrs: { axis } }) => [launch('backward', logSoftmax, out, axis, grad)],
  });
  return (x: Tensor, axis = -1): Tensor => {
    assertDtype(x, 'f32', name);
    return op([x], { axis: normaliseAxis(x, axis, name) });
  };
}

// x [...] → [...] (along axis)
/** exp(x − max) / Σ exp(x − max) along `axis` (default: the last). */
export const softmax = softmaxFamily('softmax', false);
// x [...] → [...] (along axis)
/** x − max − log Σ exp(x − max) along `axis` (default: the last). */
export const logSoftmax = softmaxFamily('logSoftmax', true);
