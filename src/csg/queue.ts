// The key queue of one CSG stage (recipe §2): [dim, K] on the GPU, keys enqueued FIFO at a pointer
// that wraps around. Checkpoints name them queue3 / queue_ptr3 (stage 3), queue4 / queue_ptr4.
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, assertDtype, shapeStr } from '../tensor/index.js';

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
    const data = new Float32Array(dim * size);
    let s = seed >>> 0;
    const uniform = (): number => {
      // Mulberry32.
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (let i = 0; i < data.length; i++) data[i] = Math.sqrt(-2 * Math.log(Math.max(uniform(), 1e-12))) * Math.cos(2 * Math.PI * uniform());
    for (let j = 0; j < size; j++) {
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += data[d * size + j]! ** 2;
      norm = Math.max(Math.sqrt(norm), 1e-12);
      for (let d = 0; d < dim; d++) data[d * size + j]! /= norm;
    }
    return new KeyQueue(Tensor.from(data, [dim, size]));
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
      { x: keys.buffer, out: this.queue.buffer },
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
