// float64 CPU reference for the queue's enqueue (src/ops/queue.ts), from recipe §2: keys [n, dim]
// written to columns (ptr + j) mod K of queue [dim, K].

export function enqueueRef(queue: ArrayLike<number>, keys: ArrayLike<number>, dim: number, size: number, ptr: number): Float64Array {
  const out = Float64Array.from(queue);
  const n = keys.length / dim;
  for (let j = 0; j < n; j++) for (let d = 0; d < dim; d++) out[d * size + ((ptr + j) % size)] = keys[j * dim + d]!;
  return out;
}
