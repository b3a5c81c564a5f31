// The queue's enqueue (src/ops/queue.ts) against its float64 reference, through src/csg's KeyQueue,
// whose pointer is shared with its owner.
import { Tensor, scope } from '../src/tensor/index.js';
import { enqueueColumns } from '../src/ops/index.js';
import { KeyQueue } from '../src/csg/index.js';
import { useGpu, randn, expectClose } from './helpers.js';
import { enqueueRef } from './ref/queue.js';

useGpu();

describe('enqueueColumns', () => {
  test('writes keys to columns (ptr + j) mod K in place, with wrap-around; refuses a bad pointer', async () => {
    const [dim, size, n] = [4, 7, 5];
    const start = randn(dim * size, 3);
    const keys = randn(n * dim, 4);
    const queue = Tensor.from(start, [dim, size]);
    scope(() => enqueueColumns(queue, Tensor.from(keys, [n, dim]), 5));
    expectClose(await queue.read(), enqueueRef(Float32Array.from(start), Float32Array.from(keys), dim, size, 5), { atol: 0, rtol: 0 }, 'queue');
    expect(() => scope(() => enqueueColumns(queue, Tensor.from(keys, [n, dim]), size))).toThrow(/pointer 7 outside \[0, 7\)/);
    queue.dispose();
  });
});

describe('KeyQueue', () => {
  test('enqueues FIFO with wrap-around and moves the pointer', async () => {
    const [dim, size] = [3, 5];
    const start = randn(dim * size, 1);
    // The pointer is the caller's (a model's queue_ptrS buffer): the queue advances it in place.
    const pointer = { value: 3 };
    const q = new KeyQueue(Tensor.from(start, [dim, size]), pointer);
    const keys = randn(4 * dim, 2);
    scope(() => q.enqueue(Tensor.from(keys, [4, dim])));
    expect(pointer.value).toBe(2);
    expect(q.ptr).toBe(2);
    expectClose(await q.queue.read(), Float32Array.from(enqueueRef(Float32Array.from(start), keys.map(Math.fround), dim, size, 3)), { atol: 0, rtol: 0 }, 'queue');
    pointer.value = 4; // a checkpoint loaded into the model moves the queue with it
    scope(() => q.enqueue(Tensor.from(keys.subarray(0, dim), [1, dim])));
    expect(q.ptr).toBe(0);
    expect(() => scope(() => q.enqueue(Tensor.from(new Float32Array(6 * dim), [6, dim])))).toThrow(/do not fit/);
    expect(() => scope(() => q.enqueue(Tensor.from(new Float32Array(8), [2, 4])))).toThrow(/must be \[n, 3\]/);
    q.dispose();
  });
  test('wrap-around is a true FIFO: after batches crossing the end the queue holds the last K keys, each once (not the reference\'s overwrite)', async () => {
    // Key j is the vector (j, j, j): the queue's columns then name the keys they hold.
    const [dim, size] = [3, 5];
    const q = new KeyQueue(Tensor.from(new Float32Array(dim * size).fill(-1), [dim, size]), 0);
    const reference = new Array<number>(size).fill(-1); // NVlabs/CSG: queue[:, :ptr+n-K] = keys[:ptr+n-K]
    let next = 0;
    let refPtr = 0;
    const sent: number[] = [];
    for (const n of [2, 4, 3, 5]) {
      const ids = Array.from({ length: n }, () => next++);
      scope(() => q.enqueue(Tensor.from(Float32Array.from(ids.flatMap((j) => [j, j, j])), [n, dim])));
      sent.push(...ids);
      for (let j = 0; j < Math.min(n, size - refPtr); j++) reference[refPtr + j] = ids[j]!;
      for (let j = 0; j < refPtr + n - size; j++) reference[j] = ids[j]!;
      refPtr = (refPtr + n) % size;
    }
    const held = [...(await q.queue.read())].slice(0, size);
    const last = sent.slice(-size);
    expect(q.ptr).toBe(sent.length % size);
    expect([...held].sort((a, b) => a - b)).toEqual(last);
    for (const [i, key] of last.entries()) expect(held[(sent.length - size + i) % size]).toBe(key);
    // The reference's wrap writes the batch's first keys twice and never holds its last (batch 2..5
    // from pointer 2: key 2 in columns 2 and 0, key 5 nowhere), so it holds fewer than K distinct keys.
    expect(reference).not.toEqual([...held]);
    expect(new Set(reference).size).toBeLessThan(size);
    q.dispose();
  });
  test('random queues have unit columns', async () => {
    const q = KeyQueue.random(16, 40, 7);
    const data = await q.queue.read();
    for (let j = 0; j < 40; j++) {
      let norm = 0;
      for (let d = 0; d < 16; d++) norm += data[d * 40 + j]! ** 2;
      expect(Math.abs(Math.sqrt(norm) - 1)).toBeLessThan(1e-5);
    }
    q.dispose();
    expect(() => new KeyQueue(Tensor.from([1, 2], [1, 2]), 2)).toThrow(/pointer 2 outside/);
  });
});
