// Softmax cross-entropy over NCHW (or [N, C]) logits with an ignore label: PyTorch's F.cross_entropy(logits,
// labels, ignore_index, reduction='mean'), except that no valid pixel gives 0 (not NaN).
// WGSL: shaders/loss.wgsl · reference: kernels-test/ref/loss.ts · test: kernels-test/loss.test.ts
import { gpu } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype, shapeStr } from '../tensor/index.js';

type LossParams = {
  pixels: number;
  classes: number;
  hw: number;
  ignoreIndex: number;
};

/** Per-pixel kernels: 256-wide pieces of each H·W plane × batch. */
const pixelGrid = ({ pixels, hw }: LossParams) => [Math.ceil(hw / 256), hw ? pixels / hw : 0] as const;

const crossEntropyOp = defineOp<{ params: LossParams }>({
  name: 'crossEntropy',
  reads: { inputs: [0, 1], out: false },
  forward: ([logits, labels], { params }) => {
    const pixelLoss = Tensor.empty([params.pixels, 2]);
    const logSumExp = Tensor.empty([params.pixels]);
    const out = Tensor.empty([]);
    const validCount = Tensor.empty([1]);
    const buffers = { logits: logits!.binding, labels: labels!.binding, pixelLoss: pixelLoss.binding, logSumExp: logSumExp.binding };
    gpu().run({ family: 'loss', entry: 'pixel_loss' }, buffers, params, pixelGrid(params));
    gpu().run({ family: 'loss', entry: 'mean_loss' }, { pixelLoss: pixelLoss.binding, meanLoss: out.binding, validCount: validCount.binding }, params, [1]);
    pixelLoss.dispose();
    return { out, saved: [logSumExp, validCount] };
  },
  backward: ({ grad, inputs: [logits, labels], saved: [logSumExp, validCount], attrs: { params } }) => {
    const gradLogits = Tensor.empty(logits!.shape);
    gpu().run(
      { family: 'loss', entry: 'backward' },
      { logits: logits!.binding, labels: labels!.binding, logSumExp: logSumExp!.binding, validCount: validCount!.binding, dy: grad.binding, grad: gradLogits.binding },
      params,
      pixelGrid(params),
    );
    return [gradLogits, null];
  },
});

// logits [N, C, H, W], labels i32 [N, H, W] → []
/**
 * Mean over valid pixels of −log softmax(logits)[label]; pixels labelled `ignoreIndex` are skipped,
 * and a batch with none valid gives 0 with a zero gradient. A label outside [0, C) that is not
 * `ignoreIndex` makes the loss NaN (checked on the GPU, no readback); `validateLabels` names it.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, ignoreIndex = 255): Tensor {
  const where = 'crossEntropy';
  assertDtype(logits, 'f32', `${where} logits`);
  assertDtype(labels, 'i32', `${where} labels`);
  if (logits.rank !== 4 && logits.rank !== 2) throw new TensorError(`${where}: expected NCHW or [N, C] logits, got ${shapeStr(logits.shape)}`);
  // [N, C] logits with [N] labels are the 1×1 case: the same memory layout.
  const [n, c, h, w] = (logits.rank === 2 ? [...logits.shape, 1, 1] : logits.shape) as [number, number, number, number];
  const expected = logits.rank === 2 ? [n] : [n, h, w];
  if (labels.rank !== expected.length || expected.some((d, i) => labels.shape[i] !== d)) {
    throw new TensorError(`${where}: labels ${shapeStr(labels.shape)} do not match logits ${shapeStr(logits.shape)} (expected ${shapeStr(expected)})`);
  }
  if (c < 1) throw new TensorError(`${where}: logits have no classes`);
  if (!Number.isInteger(ignoreIndex)) throw new TensorError(`${where}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  return crossEntropyOp([logits, labels], { params: { pixels: n * h * w, classes: c, hw: h * w, ignoreIndex } });
}

/** Reads the labels back and throws naming the first one outside [0, classes) that is not ignoreIndex. */
export async function validateLabels(labels: Tensor, classes: number, ignoreIndex = 255): Promise<void> {
  assertDtype(labels, 'i32', 'validateLabels');
  const data = await labels.read();
  const bad = data.findIndex((v) => v !== ignoreIndex && (v < 0 || v >= classes));
  if (bad >= 0) {
    throw new TensorError(`label ${data[bad]} at flat index ${bad} of ${shapeStr(labels.shape)} is outside [0, ${classes}) and is not the ignore label ${ignoreIndex}`);
  }
}
