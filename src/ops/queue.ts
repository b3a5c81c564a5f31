// The key queue's enqueue (recipe §2): keys written into the columns of a [dim, K] queue at a
// pointer that wraps around. In place and off the tape (the queue is a buffer, not a parameter).
// WGSL: shaders/queue.wgsl · reference: kernels-test/ref/queue.ts · test: kernels-test/queue.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, assertDtype, shapeStr } from '../tensor/index.js';

// queue [D, K], keys [n, D] → queue (in place)
/**
 * queue [D, K], keys [n, D] → queue with columns ptr, ptr + 1, …, ptr + n − 1 (mod K) replaced by the
 * keys (in place). n ≤ K.
 */
export function enqueueColumns(queue: Tensor, keys: Tensor, ptr: number): void {
  const where = 'enqueue';
  assertDtype(queue, 'f32', where);
  assertDtype(keys, 'f32', where);
  if (queue.rank !== 2) throw new TensorError(`${where}: the queue must be [dim, K], got ${shapeStr(queue.shape)}`);
  const [dim, size] = queue.shape as [number, number];
  if (keys.rank !== 2 || keys.shape[1] !== dim) throw new TensorError(`${where}: keys ${shapeStr(keys.shape)} must be [n, ${dim}]`);
  const n = keys.shape[0]!;
  if (n > size) throw new TensorError(`${where}: ${n} keys do not fit a queue of ${size}`);
  if (!Number.isInteger(ptr) || ptr < 0 || ptr >= size) throw new TensorError(`${where}: pointer ${ptr} outside [0, ${size})`);
  gpu().run({ family: 'queue', entry: 'enqueue' }, { x: keys.binding, queue: queue.binding }, { n, dim, keys: size, ptr }, grid(Math.ceil((n * dim) / 64)));
  queue.markWritten();
}
