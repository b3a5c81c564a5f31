import { Tensor } from '../../src/tensor/index.js';
import { add, relu, sum } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';

export function elementwiseCases(): BenchCase[] {
  const n = 1 << 22;
  let a: Tensor, b: Tensor;
  const inputs = () => {
    a = Tensor.from(new Float32Array(n).fill(1), [n]);
    b = Tensor.from(new Float32Array(n).fill(2), [n]);
  };
  const free = () => {
    a.dispose();
    b.dispose();
  };
  return [
    { name: 'elementwise add', shape: `[${n}]`, bytes: 12 * n, setup: () => (inputs(), () => add(a, b).dispose()), dispose: free },
    { name: 'elementwise relu', shape: `[${n}]`, bytes: 8 * n, setup: () => (inputs(), () => relu(a).dispose()), dispose: free },
    { name: 'reduce sum rows', shape: `[1024, ${n / 1024}] axis 1`, bytes: 4 * n, setup: () => (inputs(), () => sum(a.view([1024, n / 1024]), 1).dispose()), dispose: free },
  ];
}
