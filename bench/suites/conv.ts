// The convolutions of DeepLab-ResNet-50 at a 128×128 input, batch 1, each in three directions
// (forward, input gradient, weight gradient), with tfjs-webgpu on the same Dawn device as the peer
// where it can run the op (it has no gradients of dilated convolutions).
import { Tensor } from '../../src/tensor/index.js';
import { tunePending } from '../../src/gpu/index.js';
import { dawnGpu } from '../../src/gpu/platform-node.js';
import { convGeometry, convVariant, launchDirection, type ConvDirection, type ConvGeometry } from '../../src/ops/index.js';
import type { BenchCase, Peer } from '../harness.js';

interface ConvShape {
  name: string;
  c: number;
  o: number;
  size: number;
  k: number;
  stride?: number;
  dilation?: number;
}

const shapes: ConvShape[] = [
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

type Tf = typeof import('@tensorflow/tfjs-core');
let tfReady: Promise<Tf> | null = null;

/** tfjs-core with the WebGPU backend on our Dawn instance (globals must exist before it loads). */
function tfjs(): Promise<Tf> {
  tfReady ??= (async () => {
    (globalThis as { navigator?: unknown }).navigator = { gpu: dawnGpu() };
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    await tf.setBackend('webgpu');
    await tf.ready();
    return tf;
  })();
  return tfReady;
}

function tfjsPeer(direction: ConvDirection, g: ConvGeometry): Peer | undefined {
  // tfjs can differentiate no dilated convolution.
  if (direction !== 'forward' && (g.dh > 1 || g.dw > 1)) return undefined;
  let free: () => void = () => undefined;
  return {
    name: 'tfjs-webgpu',
    async setup() {
      const tf = await tfjs();
      const pad = [[0, 0], [g.ph, g.ph], [g.pw, g.pw], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
      const x = tf.randomNormal([g.n, g.h, g.w, g.c]) as import('@tensorflow/tfjs-core').Tensor4D;
      const filter = tf.randomNormal([g.kh, g.kw, g.c, g.o]) as import('@tensorflow/tfjs-core').Tensor4D;
      const dy = tf.randomNormal([g.n, g.ho, g.wo, g.o]) as import('@tensorflow/tfjs-core').Tensor4D;
      free = () => tf.dispose([x, filter, dy]);
      const run =
        direction === 'forward'
          ? () => tf.conv2d(x, filter, [g.sh, g.sw], pad, 'NHWC', [g.dh, g.dw])
          : direction === 'input'
            ? () => tf.conv2dTranspose(dy, filter, [g.n, g.h, g.w, g.c], [g.sh, g.sw], pad)
            : () =>
                tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
                  strides: [g.sh, g.sw],
                  pad,
                  dataFormat: 'NHWC',
                  filterShape: [g.kh, g.kw, g.c, g.o],
                }) as import('@tensorflow/tfjs-core').Tensor;
      return async () => {
        const out = run();
        await out.data();
        out.dispose();
      };
    },
    dispose: () => free(),
  };
}

function convCase(s: ConvShape, direction: ConvDirection): BenchCase {
  const stride = s.stride ?? 1;
  const dilation = s.dilation ?? 1;
  const padding = (dilation * (s.k - 1)) >> 1;
  const g = convGeometry([1, s.c, s.size, s.size], [s.o, s.c, s.k, s.k], { stride, padding, dilation });
  let inputs: Tensor[] = [];
  const c: BenchCase = {
    name: `${s.name} ${direction}`,
    shape: `[1,${s.c},${s.size},${s.size}] p${padding}`,
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
    peer: tfjsPeer(direction, g),
  };
  return c;
}

export function convCases(): BenchCase[] {
  return shapes.flatMap((s) => (['forward', 'input', 'weight'] as const).map((d) => convCase(s, d)));
}
