// CSG's kernels at paper scale: InfoNCE against a 65536-key queue (forward + backward), A-Pool over
// the 8×8 patch grid of a stage-3-sized map, and the key-head EMA.
import { Tensor } from '../../src/tensor/index.js';
import { backward } from '../../src/autograd/index.js';
import { aPool, infoNce } from '../../src/ops/index.js';
import { emaUpdate, Sgd } from '../../src/csg/index.js';
import type { BenchCase } from '../harness.js';

function randomData(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

export function csgCases(): BenchCase[] {
  const [n, keys, dim] = [384, 65536, 128];
  let q: Tensor, k: Tensor, queue: Tensor;
  const nceInputs = () => {
    q = Tensor.from(randomData(n * dim, 1), [n, dim]);
    k = Tensor.from(randomData(n * dim, 2), [n, dim]);
    queue = Tensor.from(randomData(dim * keys, 3), [dim, keys]);
  };
  const nceFree = () => [q, k, queue].forEach((t) => t.dispose());

  // A stage-3 map of a 6-image batch at a quarter of the paper's 65×65: [6, 1024, 33, 33], 8×8 grid.
  const mapShape = [6, 1024, 33, 33];
  const mapSize = mapShape.reduce((a, b) => a * b);
  let src: Tensor, values: Tensor;

  // fc_csg heads of stages 3 and 4: Linear(C, C) → ReLU → Linear(C, 128).
  const headShapes = [1024, 2048].flatMap((c) => [[c, c], [c], [128, c], [128]]);
  const headSize = headShapes.reduce((a, s) => a + s.reduce((x, y) => x * y), 0);
  let keyHeads: Tensor[], queryHeads: Tensor[], sgd: Sgd;
  const heads = () => {
    keyHeads = headShapes.map((s, i) => Tensor.from(randomData(s.reduce((x, y) => x * y), 10 + i), s));
    queryHeads = headShapes.map((s, i) => Tensor.from(randomData(s.reduce((x, y) => x * y), 20 + i), s));
    for (const p of queryHeads) p.grad = Tensor.from(randomData(p.size, 30), p.shape);
    sgd = new Sgd([{ params: queryHeads, lr: 1e-3 }]);
  };
  const headsFree = () => {
    sgd.dispose();
    for (const t of [...keyHeads, ...queryHeads]) {
      t.grad?.dispose();
      t.dispose();
    }
  };

  return [
    {
      name: 'csg nce forward+backward',
      shape: `N ${n}, K ${keys}, dim ${dim}`,
      flops: 2 * (2 * n * keys * dim),
      setup: () => {
        nceInputs();
        q.requiresGrad = true;
        return () => {
          const loss = infoNce(q, k, queue);
          backward(loss);
          loss.dispose();
          q.grad!.dispose();
          q.grad = null;
        };
      },
      dispose: nceFree,
    },
    {
      name: 'csg nce forward (no grad)',
      shape: `N ${n}, K ${keys}, dim ${dim}`,
      flops: 2 * n * keys * dim,
      setup: () => (nceInputs(), () => infoNce(q, k, queue).dispose()),
      dispose: nceFree,
    },
    {
      name: 'csg apool forward+backward 8x8 grid',
      shape: `[${mapShape.join(', ')}] shared map`,
      // Reads of the forward (source twice, values once) and the backward (source twice, values once, writes two maps).
      bytes: 4 * mapSize * 8,
      setup: () => {
        src = Tensor.from(randomData(mapSize, 4).map(Math.abs), mapShape);
        values = src;
        src.requiresGrad = true;
        return () => {
          const pooled = aPool(src, values, 8);
          const seed = Tensor.from(randomData(pooled.size, 5), pooled.shape);
          backward(pooled, seed);
          for (const t of [pooled, seed, src.grad!]) t.dispose();
          src.grad = null;
        };
      },
      dispose: () => src.dispose(),
    },
    {
      name: 'csg ema key heads (stages 3+4)',
      shape: `${headShapes.length} tensors, ${headSize} values`,
      bytes: 12 * headSize,
      setup: () => (heads(), () => emaUpdate(keyHeads, queryHeads, 0.999)),
      dispose: headsFree,
    },
    {
      name: 'csg sgd query heads (stages 3+4)',
      shape: `${headShapes.length} tensors, ${headSize} values`,
      bytes: 20 * headSize,
      setup: () => (heads(), () => sgd.step([1e-3])),
      dispose: headsFree,
    },
  ];
}
