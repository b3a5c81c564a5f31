// What the layer-op tests share: run an op with the tape on and read back its output and gradient.
import { Tensor, scopeAsync, type Shape } from '../src/tensor/index.js';
import { backward } from '../src/autograd/index.js';
import { mul, sumAll } from '../src/ops/index.js';

/**
 * op(x) and the gradient of Σ op(x)·dy with respect to x, read back. `dy` may be a function of the
 * output's size. Other tensors op closes over keep their gradients (the caller reads and frees them).
 */
export async function outputAndGrad(
  op: (x: Tensor) => Tensor,
  x: ArrayLike<number>,
  shape: Shape,
  dy: ArrayLike<number> | ((n: number) => ArrayLike<number>),
): Promise<{ out: Float32Array; outShape: readonly number[]; dx: Float32Array }> {
  return scopeAsync(async () => {
    const tx = Tensor.from(x, shape);
    tx.requiresGrad = true;
    const out = op(tx);
    const outData = await out.readFloat32();
    backward(sumAll(mul(out, Tensor.from(typeof dy === 'function' ? dy(out.size) : dy, out.shape))));
    const dx = await tx.grad!.readFloat32();
    tx.grad!.dispose();
    return { out: outData, outShape: out.shape, dx };
  });
}
