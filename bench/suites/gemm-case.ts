// One GEMM case, without peers: browser-safe, so that bench.html (bench/browser/subset.ts) times the
// same case as the Node suite (matmul.ts, which adds the tfjs peer).
import { Tensor } from '../../src/tensor/index.js';
import { matmul, setMatmulVariant, type MatmulVariant } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';

export function random(shape: number[]): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() - 0.5;
  return Tensor.from(data, shape);
}

/** C = A·B on [m,k]·[k,n] with `variant` (null: the automatic choice). */
export function gemmCase(m: number, k: number, n: number, variant: MatmulVariant | null, label: string): BenchCase {
  let a: Tensor, b: Tensor;
  return {
    name: `matmul ${label}${variant ? ` (${variant})` : ''}`,
    shape: `${m}×${k} · ${k}×${n}`,
    flops: 2 * m * n * k,
    setup: () => {
      setMatmulVariant(variant);
      a = random([m, k]);
      b = random([k, n]);
      return () => matmul(a, b).dispose();
    },
    dispose: () => {
      a.dispose();
      b.dispose();
      setMatmulVariant(null);
    },
  };
}
