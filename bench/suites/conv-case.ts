// One convolution case in one direction, without peers: browser-safe, so that bench.html
// (bench/browser/subset.ts) times the same case as the Node suite (conv.ts, which adds tfjs-webgpu).
import { Tensor } from '../../src/tensor/index.js';
import { tunePending } from '../../src/gpu/index.js';
import { convGeometry, convVariant, launchDirection, type ConvDirection, type ConvGeometry } from '../../src/ops/index.js';
import type { BenchCase } from '../harness.js';

export interface ConvShape {
  name: string;
  c: number;
  o: number;
  size: number;
  k: number;
  stride?: number;
  dilation?: number;
}

/** The convolutions of DeepLab-ResNet-50 at a 128×128 input, batch 1. */
export const convShapes: ConvShape[] = [
  { name: 'conv7x7/2 3->64 128x128 (stem)', c: 3, o: 64, size: 128, k: 7, stride: 2 },
  { name: 'conv1x1 64->64 32x32', c: 64, o: 64, size: 32, k: 1 },
  { name: 'conv3x3 64ch 32x32', c: 64, o: 64, size: 32, k: 3 },
  { name: 'conv1x1 64->256 32x32', c: 64, o: 256, size: 32, k: 1 },
  { name: 'conv3x3/2 128ch 32x32', c: 128, o: 128, size: 32, k: 3, stride: 2 },
  { name: 'conv3x3 128ch 16x16', c: 128, o: 128, size: 16, k: 3 },
  { name: 'conv1x1 128->512 16x16', c: 128, o: 512, size: 16, k: 1 },
  { name: 'conv3x3 256ch 16x16', c: 256, o: 256, size: 16, k: 3 },
  { name: 'conv3x3 256ch d2 16x16', c: 256, o: 256, size: 16, k: 3, dilation: 2 },
  { name: 'conv1x1 256->1024 16x16', c: 256, o: 1024, size: 16, k: 1 },
  { name: 'conv3x3 512ch d4 16x16', c: 512, o: 512, size: 16, k: 3, dilation: 4 },
  { name: 'conv1x1 512->2048 16x16', c: 512, o: 2048, size: 16, k: 1 },
  { name: 'conv3x3 2048->256 d12 16x16 (ASPP)', c: 2048, o: 256, size: 16, k: 3, dilation: 12 },
  { name: 'conv3x3 2048->256 d24 16x16 (ASPP)', c: 2048, o: 256, size: 16, k: 3, dilation: 24 },
  { name: 'conv3x3 2048->256 d36 16x16 (ASPP)', c: 2048, o: 256, size: 16, k: 3, dilation: 36 },
];

/** Batch 1, square map, 'same' padding for the dilation. */
export function shapeGeometry(s: ConvShape): ConvGeometry {
  const dilation = s.dilation ?? 1;
  const padding = (dilation * (s.k - 1)) >> 1;
  return convGeometry([1, s.c, s.size, s.size], [s.o, s.c, s.k, s.k], { stride: s.stride ?? 1, padding, dilation });
}

/** The case tunes its variant in setup and names it in `shape`. */
export function convCase(s: ConvShape, direction: ConvDirection): BenchCase {
  const g = shapeGeometry(s);
  let inputs: Tensor[] = [];
  const c: BenchCase = {
    name: `${s.name} ${direction}`,
    shape: `[1,${s.c},${s.size},${s.size}] p${g.ph}`,
    flops: 2 * g.n * g.o * g.c * g.kh * g.kw * g.ho * g.wo,
    async setup() {
      const x = Tensor.empty([g.n, g.c, g.h, g.w]);
      const w = Tensor.empty([g.o, g.c, g.kh, g.kw]);
      const dy = Tensor.empty([g.n, g.o, g.ho, g.wo]);
      const bias = Tensor.empty([g.o]);
      inputs = [x, w, dy, bias];
      for (const t of inputs) t.write(new Float32Array(t.size).map((_, i) => Math.sin(i)));
      convVariant(direction, g);
      await tunePending();
      const variant = convVariant(direction, g);
      c.shape += ` ${variant}`;
      const [a, b] = direction === 'forward' ? [x, w] : direction === 'input' ? [dy, w] : [x, dy];
      return () => launchDirection(direction, variant, g, a, b, direction === 'forward' ? bias : null).dispose();
    },
    dispose: () => inputs.forEach((t) => t.dispose()),
  };
  return c;
}
