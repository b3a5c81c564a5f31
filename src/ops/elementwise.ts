// Elementwise ops with NumPy/PyTorch broadcasting, and the gradient reductions that undo it.
// WGSL: shaders/elementwise.wgsl · reference: kernels-test/ref/elementwise.ts · test: kernels-test/elementwise.test.ts
import { gpu, grid, forEachBindableChunk } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, shapeStr, assertDtype, type Shape } from '../tensor/index.js';
import { sum } from './reduce.js';

const MAX_RANK = 8;
/** Elements per workgroup of the vec4 kernels: 256 invocations × 8 vec4s (see elementwise.wgsl). */
const VEC4_WORKGROUP_ELEMENTS = 256 * 8 * 4;

function unaryKernel(expr: string, entry: 'unary' | 'unary_vec4') {
  return { family: 'elementwise', entry, defines: { UNARY: expr, BINARY: 'x' } };
}
function binaryKernel(expr: string, entry: 'binary_same' | 'binary_same_vec4' | 'binary_broadcast') {
  return { family: 'elementwise', entry, defines: { UNARY: 'x', BINARY: expr } };
}

function pad8(v: number[]): number[] {
  return [...v, ...new Array(MAX_RANK - v.length).fill(0)];
}

const noBroadcast = { rank: 0, shape: pad8([]), aStrides: pad8([]), bStrides: pad8([]) };

export function broadcastShapes(a: Shape, b: Shape, where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new TensorError(`${where}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Element strides of `shape` when broadcast to `out` (0 along broadcast axes). */
function broadcastStrides(shape: Shape, out: Shape): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = out.length - shape.length + i;
    strides[o] = shape[i] === 1 && out[o] !== 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}

function launchUnary(expr: string, x: Tensor, alpha = 0, beta = 0): Tensor {
  assertDtype(x, 'f32', expr);
  const out = Tensor.empty(x.shape);
  const params = { n: x.size, alpha, beta, ...noBroadcast };
  if (x.size % 4 === 0) {
    gpu().run(unaryKernel(expr, 'unary_vec4'), { a4: x.binding, out4: out.binding }, params, grid(Math.ceil(x.size / VEC4_WORKGROUP_ELEMENTS)));
  } else {
    gpu().run(unaryKernel(expr, 'unary'), { a: x.binding, out: out.binding }, params, grid(Math.ceil(x.size / 256)));
  }
  return out;
}

/** Runs a binary expression with broadcasting (no tape entry): the building block of the ops below. */
export function launchBinary(expr: string, a: Tensor, b: Tensor, alpha = 0, where = expr): Tensor {
  assertDtype(a, 'f32', where);
  assertDtype(b, 'f32', where);
  const shape = broadcastShapes(a.shape, b.shape, where);
  if (shape.length > MAX_RANK) throw new TensorError(`${where}: rank ${shape.length} exceeds ${MAX_RANK}`);
  const out = Tensor.empty(shape);
  const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  const params = same
    ? { n: out.size, alpha, beta: 0, ...noBroadcast }
    : {
        n: out.size,
        alpha,
        beta: 0,
        rank: shape.length,
        shape: pad8(shape),
        aStrides: pad8(broadcastStrides(a.shape, shape)),
        bStrides: pad8(broadcastStrides(b.shape, shape)),
      };
  if (same && out.size % 4 === 0) {
    gpu().run(binaryKernel(expr, 'binary_same_vec4'), { a4: a.binding, b4: b.binding, out4: out.binding }, params, grid(Math.ceil(out.size / VEC4_WORKGROUP_ELEMENTS)));
  } else {
    gpu().run(binaryKernel(expr, same ? 'binary_same' : 'binary_broadcast'), { a: a.binding, b: b.binding, out: out.binding }, params, grid(Math.ceil(out.size / 256)));
  }
  return out;
}

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.shape.length - shape.length;
  let t = g;
  for (let axis = g.shape.length - 1; axis >= 0; axis--) {
    const target = axis < lead ? 1 : shape[axis - lead]!;
    if (g.shape[axis] !== target) {
      const next = sum(t, axis, true);
      if (t !== g) t.dispose();
      t = next;
    }
  }
  const out = t.view(shape);
  if (t !== g) t.dispose();
  return out;
}

// shape → tensor of that shape
/** A tensor of `shape` filled with `value` (off the tape). */
export function fill(shape: Shape, value: number): Tensor {
  const out = Tensor.empty(shape);
  // A tensor larger than one storage binding (ResNet-101's SGD momentum: 192 MiB against lavapipe's
  // 128 MiB) is filled range by range, each a whole number of workgroups.
  forEachBindableChunk(Math.ceil(out.size / VEC4_WORKGROUP_ELEMENTS), VEC4_WORKGROUP_ELEMENTS * 4, (first, count) => {
    const start = first * VEC4_WORKGROUP_ELEMENTS;
    const n = Math.min(count * VEC4_WORKGROUP_ELEMENTS, out.size - start);
    const params = { n, alpha: value, beta: 0, ...noBroadcast };
    gpu().run({ family: 'elementwise', entry: 'fill_vec4', defines: { UNARY: 'x', BINARY: 'x' } }, { out4: out.bindRange(start * 4, Math.ceil(n / 4) * 16) }, params, grid(count));
  });
  return out;
}

// shape → zeros of that shape
export const zeros = (shape: Shape): Tensor => fill(shape, 0);
// shape → ones of that shape
export const ones = (shape: Shape): Tensor => fill(shape, 1);

const addOp = defineOp({
  name: 'add',
  reads: { inputs: [], out: false },
  forward: ([a, b]) => ({ out: launchBinary('x + y', a!, b!, 0, 'add') }),
  backward: ({ grad, inputs: [a, b] }) => [sumTo(grad, a!.shape), sumTo(grad, b!.shape)],
});

const subOp = defineOp({
  name: 'sub',
  reads: { inputs: [], out: false },
  forward: ([a, b]) => ({ out: launchBinary('x - y', a!, b!, 0, 'sub') }),
  backward: ({ grad, inputs: [a, b] }) => {
    const neg = launchUnary('-x', grad);
    const gb = sumTo(neg, b!.shape);
    if (gb !== neg) neg.dispose();
    return [sumTo(grad, a!.shape), gb];
  },
});

function reduced(t: Tensor, shape: Shape): Tensor {
  const r = sumTo(t, shape);
  if (r !== t) t.dispose();
  return r;
}

const mulOp = defineOp({
  name: 'mul',
  reads: { inputs: [0, 1], out: false },
  forward: ([a, b]) => ({ out: launchBinary('x * y', a!, b!, 0, 'mul') }),
  backward: ({ grad, inputs: [a, b] }) => [
    reduced(launchBinary('x * y', grad, b!), a!.shape),
    reduced(launchBinary('x * y', grad, a!), b!.shape),
  ],
});

const divOp = defineOp({
  name: 'div',
  reads: { inputs: [1], out: true },
  forward: ([a, b]) => ({ out: launchBinary('x / y', a!, b!, 0, 'div') }),
  backward: ({ grad, inputs: [a, b], out }) => {
    const ga = reduced(launchBinary('x / y', grad, b!), a!.shape);
    const gOverB = launchBinary('x / y', grad, b!);
    const gb = reduced(launchBinary('-x * y', gOverB, out), b!.shape);
    gOverB.dispose();
    return [ga, gb];
  },
});

const scaleOp = defineOp<{ s: number }>({
  name: 'scale',
  reads: { inputs: [], out: false },
  forward: ([x], { s }) => ({ out: launchUnary('alpha * x', x!, s) }),
  backward: ({ grad, attrs: { s } }) => [launchUnary('alpha * x', grad, s)],
});

const addScalarOp = defineOp<{ s: number }>({
  name: 'addScalar',
  reads: { inputs: [], out: false },
  forward: ([x], { s }) => ({ out: launchUnary('x + alpha', x!, s) }),
  backward: ({ grad }) => [grad.view(grad.shape)],
});

const reluOp = defineOp({
  name: 'relu',
  reads: { inputs: [], out: true },
  forward: ([x]) => ({ out: launchUnary('max(x, 0.0)', x!) }),
  backward: ({ grad, out }) => [launchBinary('select(0.0, x, y > 0.0)', grad, out)],
});

const expOp = defineOp({
  name: 'exp',
  reads: { inputs: [], out: true },
  forward: ([x]) => ({ out: launchUnary('exp(x)', x!) }),
  backward: ({ grad, out }) => [launchBinary('x * y', grad, out)],
});

const logOp = defineOp({
  name: 'log',
  reads: { inputs: [0], out: false },
  forward: ([x]) => ({ out: launchUnary('log(x)', x!) }),
  backward: ({ grad, inputs: [x] }) => [launchBinary('x / y', grad, x!)],
});

// a [...A], b [...B] → broadcast shape of A and B
export const add = (a: Tensor, b: Tensor): Tensor => addOp([a, b], {});
// a [...A], b [...B] → broadcast shape of A and B
export const sub = (a: Tensor, b: Tensor): Tensor => subOp([a, b], {});
// a [...A], b [...B] → broadcast shape of A and B
export const mul = (a: Tensor, b: Tensor): Tensor => mulOp([a, b], {});
// a [...A], b [...B] → broadcast shape of A and B
export const div = (a: Tensor, b: Tensor): Tensor => divOp([a, b], {});
// x [...] → [...]
export const scale = (x: Tensor, s: number): Tensor => scaleOp([x], { s });
// x [...] → [...]
export const addScalar = (x: Tensor, s: number): Tensor => addScalarOp([x], { s });
// x [...] → [...]
export const relu = (x: Tensor): Tensor => reluOp([x], {});
// x [...] → [...]
export const exp = (x: Tensor): Tensor => expOp([x], {});
// x [...] → [...]
export const log = (x: Tensor): Tensor => logOp([x], {});
