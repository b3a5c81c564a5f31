// The key queue of one CSG stage (recipe §2): [dim, K] on the GPU, keys enqueued FIFO at a pointer
// that wraps around (src/ops/queue.ts). In a CSG model the queue and its pointer are the model's
// buffers queue3 / queue_ptr3 (stage 3) and queue4 / queue_ptr4, which checkpoints hold.
import { Tensor, TensorError, Mulberry32, assertDtype, shapeStr } from '../tensor/index.js';
import { enqueueColumns } from '../ops/index.js';

const { sqrt, log, cos, max, PI } = Math; // looked up once (slow per element under jest's sandbox)

/** randn [dim, K] with every column L2-normalised, from a seeded Box–Muller stream. */
export function randomUnitColumns(dim: number, k: number, seed: number): Float32Array {
  const r = new Mulberry32(seed);
  const data = new Float32Array(dim * k);
  for (let i = 0; i < data.length; i++) data[i] = sqrt(-2 * log(max(r.next(), 1e-12))) * cos(2 * PI * r.next());
  for (let c = 0; c < k; c++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += data[d * k + c]! ** 2;
    const inv = 1 / max(sqrt(norm), 1e-12);
    for (let d = 0; d < dim; d++) data[d * k + c]! *= inv;
  }
  return data;
}

/** Where the next key goes. The model's `queue_ptrN` buffer is one: the queue advances it in place. */
export interface QueuePointer {
  value: number;
}

export class KeyQueue {
  /** Columns are keys: [dim, K]. */
  readonly queue: Tensor;
  /** The CPU knows every batch size, so the pointer never needs a readback. */
  readonly pointer: QueuePointer;

  /** A queue over `queue` [dim, K] whose pointer is `pointer` (shared, e.g. the model's buffer) or a new one at that column. */
  constructor(queue: Tensor, pointer: QueuePointer | number = 0) {
    assertDtype(queue, 'f32', 'KeyQueue');
    if (queue.rank !== 2 || queue.shape[1]! < 1) throw new TensorError(`KeyQueue: expected [dim, K], got ${shapeStr(queue.shape)}`);
    this.pointer = typeof pointer === 'number' ? { value: pointer } : pointer;
    const ptr = this.pointer.value;
    if (!Number.isInteger(ptr) || ptr < 0 || ptr >= queue.shape[1]!) throw new TensorError(`KeyQueue: pointer ${ptr} outside [0, ${queue.shape[1]})`);
    this.queue = queue.keep();
  }

  /** A queue of unit columns drawn from N(0, 1) (seeded), as the reference initialises it. */
  static random(dim: number, size: number, seed = 0): KeyQueue {
    return new KeyQueue(Tensor.from(randomUnitColumns(dim, size, seed), [dim, size]));
  }

  /** Column the next key goes to. */
  get ptr(): number {
    return this.pointer.value;
  }

  get dim(): number {
    return this.queue.shape[0]!;
  }

  get size(): number {
    return this.queue.shape[1]!;
  }

  /** Writes keys [n, dim] to columns ptr, ptr + 1, … (mod K) and advances the pointer. */
  enqueue(keys: Tensor): void {
    enqueueColumns(this.queue, keys, this.ptr);
    this.pointer.value = (this.ptr + keys.shape[0]!) % this.size;
  }

  dispose(): void {
    this.queue.dispose();
  }
}
