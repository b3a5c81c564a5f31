// The convolutions of DeepLab-ResNet-50 at a 128×128 input, batch 1, each in three directions
// (forward, input gradient, weight gradient), with tfjs-webgpu on the same Dawn device as the peer
// where it can run the op (it has no gradients of dilated convolutions).
import { dawnGpu } from '../../src/gpu/platform-node.js';
import type { ConvDirection, ConvGeometry } from '../../src/ops/index.js';
import type { BenchCase, Peer } from '../harness.js';
import { convCase, convShapes, shapeGeometry } from './conv-case.js';

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

export function convCases(): BenchCase[] {
  return convShapes.flatMap((s) =>
    (['forward', 'input', 'weight'] as const).map((d) => {
      const c = convCase(s, d);
      c.peer = tfjsPeer(d, shapeGeometry(s));
      return c;
    }),
  );
}
