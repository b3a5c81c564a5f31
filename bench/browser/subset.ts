// The cases that `npm run bench -- --browser` times on both hosts, Dawn in Node and the browser's
// WebGPU in bench.html: the same case objects (shapes, inputs, the op launched) as the Node suites, without
// their peers. Browser-safe: the web build bundles this file.
import { matmulVariant } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';
import { gemmCase } from '../suites/gemm-case.js';
import { convCase, convShapes } from '../suites/conv-case.js';
import { csgCases } from '../suites/csg.js';

/** The automatic GEMM kernel, named in `shape` once chosen: the row names must not depend on the adapter. */
function autoGemm(m: number, k: number, n: number, label: string): BenchCase {
  const c = gemmCase(m, k, n, null, `${label} auto`);
  const setup = c.setup;
  c.setup = () => {
    const iteration = setup();
    c.shape += ` ${matmulVariant()}`;
    return iteration;
  };
  return c;
}

export function browserSubset(): BenchCase[] {
  const conv = convShapes.find((s) => s.name === 'conv3x3 256ch 16x16')!;
  return [
    autoGemm(1024, 1024, 1024, '1024³'),
    autoGemm(4096, 2304, 256, 'conv-shaped'),
    ...(['forward', 'input', 'weight'] as const).map((d) => convCase(conv, d)),
    ...csgCases().filter((c) => c.name === 'csg nce forward+backward'),
  ];
}
