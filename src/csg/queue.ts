// The key queue of one CSG stage (recipe §2): [dim, K] on the GPU, keys enqueued FIFO at a pointer
// that wraps around. Checkpoints name them queue3 / queue_ptr3 (stage 3), queue4 / queue_ptr4.
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, Mulberry32, assertDtype, shapeStr } from '../tensor/index.js';

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

export class KeyQueue {
  /** Columns are keys: [dim, K]. */
  readonly queue: Tensor;
  /** Column the next key goes to. The CPU knows every batch size, so it never needs a readback. */
  ptr: number;

  constructor(queue: Tensor, ptr = 0) {
    assertDtype(queue, 'f32', 'KeyQueue');
    if (queue.rank !== 2 || queue.shape[1]! < 1) throw new TensorError(`KeyQueue: expected [dim, K], got ${shapeStr(queue.shape)}`);
    if (!Number.isInteger(ptr) || ptr < 0 || ptr >= queue.shape[1]!) throw new TensorError(`KeyQueue: pointer ${ptr} outside [0, ${queue.shape[1]})`);
    this.queue = queue.keep();
    this.ptr = ptr;
  }

  /** A queue of unit columns drawn from N(0, 1) (seeded), as the reference initialises it. */
  static random(dim: number, size: number, seed = 0): KeyQueue {
    return new KeyQueue(Tensor.from(randomUnitColumns(dim, size, seed), [dim, size]));
  }

  get dim(): number {
    return this.queue.shape[0]!;
  }

  get size(): number {
    return this.queue.shape[1]!;
  }

  /** Writes keys [n, dim] to columns ptr, ptr + 1, … (mod K) and advances the pointer. */
  enqueue(keys: Tensor): void {
    assertDtype(keys, 'f32', 'KeyQueue.enqueue');
    if (keys.rank !== 2 || keys.shape[1] !== this.dim) throw new TensorError(`KeyQueue.enqueue: keys ${shapeStr(keys.shape)} must be [n, ${this.dim}]`);
    const n = keys.shape[0]!;
    if (n > this.size) throw new TensorError(`KeyQueue.enqueue: ${n} keys do not fit a queue of ${this.size}`);
    gpu().run(
      { family: 'csg', entry: 'enqueue' },
      { x: keys.binding, out: this.queue.binding },
      // The geometry struct carries the pointer in `height` and K in `width`.
      { batch: 1, channels: this.dim, height: this.ptr, width: this.size, ph: 1, pw: 1, gr: 1, gc: 1, unitWeight: 0, byCount: 0, n, eps: 0 },
      grid(Math.ceil((n * this.dim) / 64)),
    );
    this.ptr = (this.ptr + n) % this.size;
  }

  /** Checkpoint entries for stage S: queueS (F32 [dim, K]) and queue_ptrS (the pointer, I64 [1] on disk). */
  stateEntries(stage: number): { [name: string]: Tensor | number } {
    return { [`queue${stage}`]: this.queue, [`queue_ptr${stage}`]: this.ptr };
  }

  dispose(): void {
    this.queue.dispose();
  }
}
