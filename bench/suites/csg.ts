// CSG's kernels at paper scale: InfoNCE against a 65536-key queue (forward + backward), A-Pool over
// the 8×8 patch grid of a stage-3-sized map, and the EMA and SGD parameter updates.
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
  // N 384: 64 patches of a 6-image batch (the recipe's); N 128: one stage of the bench's 2-image step.
  const [keys, dim] = [65536, 128];
  let q: Tensor, k: Tensor, queue: Tensor;
  const nceInputs = (n: number) => {
    q = Tensor.from(randomData(n * dim, 1), [n, dim]);
    k = Tensor.from(randomData(n * dim, 2), [n, dim]);
    queue = Tensor.from(randomData(dim * keys, 3), [dim, keys]);
  };
  const nceFree = () => [q, k, queue].forEach((t) => t.dispose());

  // A stage-3 map of a 6-image batch at a quarter of the paper's 65×65: [6, 1024, 33, 33], 8×8 grid.
  const mapShape = [6, 1024, 33, 33];
  const mapSize = mapShape.reduce((a, b) => a * b);
  let src: Tensor, values: Tensor;

  // EMA and SGD over parameter lists: the fc_csg heads of stages 3 and 4 (Linear(C, C) → ReLU →
  // Linear(C, 128)), and 300 ResNet-like tensors (3×3 convolutions with their BN weight and bias),
  // where the per-dispatch cost of one update per tensor showed.
  const headShapes = [1024, 2048].flatMap((c) => [[c, c], [c], [128, c], [128]]);
  const backboneShapes = Array.from({ length: 100 }, () => [[64, 64, 3, 3], [64], [64]]).flat();
  let keyParams: Tensor[], queryParams: Tensor[], sgd: Sgd;
  const makeParams = (shapes: number[][]) => {
    keyParams = shapes.map((s, i) => Tensor.from(randomData(s.reduce((x, y) => x * y), 10 + i), s));
    queryParams = shapes.map((s, i) => Tensor.from(randomData(s.reduce((x, y) => x * y), 20 + i), s));
    for (const p of queryParams) p.grad = Tensor.from(randomData(p.size, 30), p.shape);
    sgd = new Sgd([{ params: queryParams, lr: 1e-3 }]);
  };
  const paramsFree = () => {
    sgd.dispose();
    for (const t of [...keyParams, ...queryParams]) {
      t.grad?.dispose();
      t.dispose();
    }
  };
  const updateCases = (shapes: number[][], names: { ema: string; sgd: string }): BenchCase[] => {
    const size = shapes.reduce((a, s) => a + s.reduce((x, y) => x * y), 0);
    return [
      {
        name: names.ema,
        shape: `${shapes.length} tensors, ${size} values`,
        bytes: 12 * size,
        setup: () => (makeParams(shapes), () => emaUpdate(keyParams, queryParams, 0.999)),
        dispose: paramsFree,
      },
      {
        name: names.sgd,
        shape: `${shapes.length} tensors, ${size} values`,
        // The update's 20 bytes a value and the gradient's gathering into the group's flat buffer (8).
        bytes: 28 * size,
        setup: () => (makeParams(shapes), () => sgd.step([1e-3])),
        dispose: paramsFree,
      },
    ];
  };

  return [
    ...[384, 128].map((n): BenchCase => ({
      name: `csg nce forward+backward${n === 384 ? '' : ', one step stage'}`,
      shape: `N ${n}, K ${keys}, dim ${dim}`,
      flops: 2 * (2 * n * keys * dim),
      setup: () => {
        nceInputs(n);
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
    })),
    {
      name: 'csg nce forward (no grad)',
      shape: `N 384, K ${keys}, dim ${dim}`,
      flops: 2 * 384 * keys * dim,
      setup: () => (nceInputs(384), () => infoNce(q, k, queue).dispose()),
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
    ...updateCases(headShapes, { ema: 'csg ema key heads (stages 3+4)', sgd: 'csg sgd query heads (stages 3+4)' }),
    ...updateCases(backboneShapes, { ema: 'csg ema 300 backbone-like tensors', sgd: 'csg sgd 300 backbone-like tensors' }),
  ];
}
