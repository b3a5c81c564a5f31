// Concatenation and narrowing along an axis, with their gradients (each the other's slab copy).
// WGSL: shaders/shape.wgsl · reference: kernels-test/ref/shape.ts · test: kernels-test/shape.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, shapeStr, type Shape } from '../tensor/index.js';
import { zeros } from './elementwise.js';

function normaliseAxis(rank: number, axis: number, where: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new TensorError(`${where}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Product of the dimensions before and after `axis`. */
function outerInner(shape: Shape, axis: number): { outer: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, inner };
}

/**
 * Copies the slab [start, start + length) along `axis` of a tensor of `shape` (inner elements per
 * axis step) between `src` and `dst`: `toSlab` writes src (the slab's own shape) into dst (the full
 * shape); otherwise the slab is read out of src into dst.
 */
function copySlab(src: Tensor, dst: Tensor, shape: Shape, axis: number, start: number, length: number, toSlab: boolean): void {
  const { outer, inner } = outerInner(shape, axis);
  const full = shape[axis]! * inner;
  const slab = length * inner;
  const offset = start * inner;
  const params = toSlab
    ? { rows: outer, srcStride: slab, srcOffset: 0, dstStride: full, dstOffset: offset }
    : { rows: outer, srcStride: full, srcOffset: offset, dstStride: slab, dstOffset: 0 };
  if (outer <= COPY_MAX_ROWS && 4 * slab >= COPY_MIN_BYTES) {
    // A few long rows (concat along NCHW channels): buffer copies, a memcpy each, beat a kernel.
    const [from, to] = [src.binding, dst.binding];
    for (let r = 0; r < outer; r++) {
      const srcAt = (from.offset ?? 0) + 4 * (params.srcOffset + r * params.srcStride);
      const dstAt = (to.offset ?? 0) + 4 * (params.dstOffset + r * params.dstStride);
      gpu().encoder.copy(from.buffer, srcAt, to.buffer, dstAt, 4 * slab);
    }
    return;
  }
  // The row length is a constant of the pipeline: per-lane division by a runtime value is slow on CPU adapters.
  gpu().run({ family: 'shape', entry: 'copy_block', overrides: { ROW_LEN: slab } }, { src: src.binding, dst: dst.binding }, params, grid(Math.ceil((outer * slab) / 256)));
}

/** Slab copies with at most this many rows of at least this many bytes go through buffer copies. */
const COPY_MAX_ROWS = 64;
const COPY_MIN_BYTES = 4096;

const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  reads: { inputs: [], out: false },
  forward: (inputs, { axis }) => {
    const shape = [...inputs[0]!.shape];
    shape[axis] = inputs.reduce((s, t) => s + t.shape[axis]!, 0);
    const out = Tensor.empty(shape, inputs[0]!.dtype);
    let start = 0;
    for (const t of inputs) {
      copySlab(t, out, shape, axis, start, t.shape[axis]!, true);
      start += t.shape[axis]!;
    }
    return { out };
  },
  backward: ({ grad, inputs, attrs: { axis } }) => {
    let start = 0;
    return inputs.map((t) => {
      const length = t.shape[axis]!;
      const g = t.requiresGrad ? Tensor.empty(t.shape) : null;
      if (g) copySlab(grad, g, grad.shape, axis, start, length, false);
      start += length;
      return g;
    });
  },
});

// tensors [..., n_i, ...] → [..., Σ n_i, ...] along axis
/** Joins tensors of equal shape except along `axis` (torch.cat); the gradient splits back. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new TensorError('concat: no tensors given');
  const first = tensors[0]!;
  const a = normaliseAxis(first.rank, axis, 'concat');
  for (const t of tensors) {
    const fits = t.dtype === first.dtype && t.rank === first.rank && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!fits) {
      throw new TensorError(`concat: ${t.dtype} ${shapeStr(t.shape)} does not match ${first.dtype} ${shapeStr(first.shape)} outside axis ${a}`);
    }
  }
  return concatOp(tensors, { axis: a });
}

const narrowOp = defineOp<{ axis: number; start: number; length: number }>({
  name: 'narrow',
  reads: { inputs: [], out: false },
  forward: ([x], { axis, start, length }) => {
    const shape = x!.shape.map((d, i) => (i === axis ? length : d));
    const out = Tensor.empty(shape, x!.dtype);
    copySlab(x!, out, x!.shape, axis, start, length, false);
    return { out };
  },
  backward: ({ grad, inputs: [x], attrs: { axis, start, length } }) => {
    const g = zeros(x!.shape);
    copySlab(grad, g, x!.shape, axis, start, length, true);
    return [g];
  },
});

// x [..., n, ...] → [..., length, ...] along axis
/** The slice [start, start + length) along `axis` (torch.narrow), as a copy; the gradient pads with zeros. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normaliseAxis(x.rank, axis, 'narrow');
  const size = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new TensorError(`narrow: [${start}, ${start + length}) is outside axis ${a} of ${shapeStr(x.shape)}`);
  }
  return narrowOp([x], { axis: a, start, length });
}
