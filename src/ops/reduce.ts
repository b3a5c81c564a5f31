// Sum, mean and max along one axis (keepdim optional), with their gradients; the non-finite count of a
// list of tensors (off the tape, for checkpoints).
// WGSL: shaders/reduce.wgsl · reference: kernels-test/ref/reduce.ts · test: kernels-test/reduce.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, type Shape } from '../tensor/index.js';

interface AxisAttrs {
  axis: number;
  keepdim: boolean;
}

export function normaliseAxis(x: Tensor, axis: number, where: string): number {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw new TensorError(`${where}: axis ${axis} out of range for rank ${x.rank}`);
  return a;
}

/** The tensor viewed as [outer, r, inner] around `axis`. */
export function split(shape: Shape, axis: number): { outer: number; r: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, r: shape[axis]!, inner };
}

function reducedShape(shape: Shape, axis: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
}

/** Rows are long and few: a workgroup per row beats a thread per row. */
function useRows(outer: number, r: number, inner: number): boolean {
  return inner === 1 && r >= 256 && outer < 4096;
}

function launchSum(x: Tensor, axis: number, keepdim: boolean, scale: number): Tensor {
  const { outer, r, inner } = split(x.shape, axis);
  const out = Tensor.empty(reducedShape(x.shape, axis, keepdim));
  const params = { outer, r, inner, scale };
  if (useRows(outer, r, inner)) {
    gpu().run({ family: 'reduce', entry: 'sum_rows' }, { x: x.binding, out: out.binding }, params, grid(outer));
  } else {
    gpu().run({ family: 'reduce', entry: 'sum_strided' }, { x: x.binding, out: out.binding }, params, grid(Math.ceil((outer * inner) / 64)));
  }
  return out;
}

/** Broadcasts a reduced gradient back along `axis`, times `scale`. */
function expandAlong(g: Tensor, shape: Shape, axis: number, scale: number): Tensor {
  const { outer, r, inner } = split(shape, axis);
  const keep = g.view(reducedShape(shape, axis, true));
  const out = Tensor.empty(shape);
  // Reuse the elementwise broadcast path: out = g (broadcast) * scale.
  gpu().run(
    { family: 'elementwise', entry: 'binary_broadcast', defines: { UNARY: 'x', BINARY: 'x * alpha' } },
    { a: keep.binding, b: keep.binding, out: out.binding },
    {
      n: out.size,
      rank: 3,
      alpha: scale,
      beta: 0,
      shape: [outer, r, inner, 0, 0, 0, 0, 0],
      aStrides: [inner, 0, 1, 0, 0, 0, 0, 0],
      bStrides: [inner, 0, 1, 0, 0, 0, 0, 0],
    },
    grid(Math.ceil(out.size / 256)),
  );
  keep.dispose();
  return out;
}

const sumOp = defineOp<AxisAttrs>({
  name: 'sum',
  reads: { inputs: [], out: false },
  forward: ([x], { axis, keepdim }) => ({ out: launchSum(x!, axis, keepdim, 1) }),
  backward: ({ grad, inputs: [x], attrs: { axis } }) => [expandAlong(grad, x!.shape, axis, 1)],
});

const meanOp = defineOp<AxisAttrs>({
  name: 'mean',
  reads: { inputs: [], out: false },
  forward: ([x], { axis, keepdim }) => ({ out: launchSum(x!, axis, keepdim, 1 / x!.shape[axis]!) }),
  backward: ({ grad, inputs: [x], attrs: { axis } }) => [expandAlong(grad, x!.shape, axis, 1 / x!.shape[axis]!)],
});

function launchMax(x: Tensor, axis: number, keepdim: boolean): { out: Tensor; argmax: Tensor } {
  const { outer, r, inner } = split(x.shape, axis);
  const out = Tensor.empty(reducedShape(x.shape, axis, keepdim));
  const argmax = Tensor.empty(out.shape, 'u32');
  const params = { outer, r, inner, scale: 1 };
  const buffers = { x: x.binding, out: out.binding, argmax: argmax.binding };
  if (useRows(outer, r, inner)) gpu().run({ family: 'reduce', entry: 'max_rows' }, buffers, params, grid(outer));
  else gpu().run({ family: 'reduce', entry: 'max_strided' }, buffers, params, grid(Math.ceil((outer * inner) / 64)));
  return { out, argmax };
}

const maxOp = defineOp<AxisAttrs>({
  name: 'max',
  reads: { inputs: [], out: false },
  forward: ([x], { axis, keepdim }) => {
    const { out, argmax } = launchMax(x!, axis, keepdim);
    return { out, saved: [argmax] };
  },
  backward: ({ grad, inputs: [x], saved: [argmax], attrs: { axis } }) => {
    const { outer, r, inner } = split(x!.shape, axis);
    const gx = Tensor.empty(x!.shape);
    gpu().run(
      { family: 'reduce', entry: 'max_backward' },
      { x: grad.binding, out: gx.binding, argmax: argmax!.binding },
      { outer, r, inner, scale: 1 },
      grid(Math.ceil(gx.size / 256)),
    );
    return [gx];
  },
});

function reduceArgs(x: Tensor, axis: number, keepdim: boolean, where: string): AxisAttrs {
  assertDtype(x, 'f32', where);
  const a = normaliseAxis(x, axis, where);
  if (x.shape[a] === 0) throw new TensorError(`${where}: cannot reduce an empty axis`);
  return { axis: a, keepdim };
}

// x [..., R, ...] → [..., ...] (or [..., 1, ...] with keepdim), R the reduced axis
export const sum = (x: Tensor, axis: number, keepdim = false): Tensor => sumOp([x], reduceArgs(x, axis, keepdim, 'sum'));
// x [..., R, ...] → [..., ...] (or [..., 1, ...] with keepdim)
export const mean = (x: Tensor, axis: number, keepdim = false): Tensor => meanOp([x], reduceArgs(x, axis, keepdim, 'mean'));
// x [..., R, ...] → [..., ...] (or [..., 1, ...] with keepdim)
/** Max along an axis; the gradient flows to the first arg-max. */
export const max = (x: Tensor, axis: number, keepdim = false): Tensor => maxOp([x], reduceArgs(x, axis, keepdim, 'max'));

// x [..., R, ...] → u32 [..., ...] (or [..., 1, ...] with keepdim)
/** Index of the first maximum along an axis (u32, off the tape): segmentation predictions. */
export function argmax(x: Tensor, axis: number, keepdim = false): Tensor {
  const { out, argmax: indices } = launchMax(x, reduceArgs(x, axis, keepdim, 'argmax').axis, keepdim);
  out.dispose();
  return indices;
}

// x [...] → []
/** Sum of every element, as a one-element tensor of shape []. */
export function sumAll(x: Tensor): Tensor {
  return sum(reshapeFlat(x), 0);
}

/** Elements one workgroup of count_nonfinite covers (256 lanes × 16). */
const COUNT_SPAN = 4096;

/**
 * The number of Inf and NaN elements of each f32 tensor, as a u32 tensor [tensors.length] (off the
 * tape): one dispatch per tensor into one vector, so a whole model's state is checked with a single
 * small readback. Checkpoints are written only when every count is 0.
 */
export function countNonFinite(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new TensorError('countNonFinite: no tensors given');
  for (const t of tensors) assertDtype(t, 'f32', 'countNonFinite');
  const counts = Tensor.from(new Uint32Array(tensors.length), [tensors.length], 'u32');
  tensors.forEach((t, slot) => {
    if (t.size === 0) return;
    gpu().run(
      { family: 'reduce', entry: 'count_nonfinite' },
      { values: t.binding, nonFinite: counts.binding },
      { n: t.size, slot },
      grid(Math.ceil(t.size / COUNT_SPAN)),
    );
  });
  return counts;
}

const reshapeOp = defineOp<{ shape: Shape }>({
  name: 'reshape',
  reads: { inputs: [], out: false },
  forward: ([x], { shape }) => ({ out: x!.view(shape) }),
  backward: ({ grad, inputs: [x] }) => [grad.view(x!.shape)],
});

// x [...] → shape (same size; a view)
export const reshape = (x: Tensor, shape: Shape): Tensor => {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  return reshapeOp([x], { shape: resolved });
};

function reshapeFlat(x: Tensor): Tensor {
  return reshape(x, [x.size]);
}
