// Dropout (training semantics) with a counter-based mask: a pure function of (seed, element index)
// computed on the GPU, so the backward re-applies the same mask instead of storing it.
// WGSL: shaders/dropout.wgsl · reference: none (the test checks the keep rate, the 1/(1−p) scaling and the mask's reuse) · test: kernels-test/dropout.test.ts
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, defineOp, assertDtype } from '../tensor/index.js';
import { reshape } from './reduce.js';
import { zeros } from './elementwise.js';

type DropoutParams = {
  n: number;
  seed: number;
  threshold: number;
  scale: number;
};

function applyMask(t: Tensor, params: DropoutParams): Tensor {
  const out = Tensor.empty(t.shape);
  gpu().run({ family: 'dropout', entry: 'apply_mask' }, { x: t.binding, out: out.binding }, { ...params, n: t.size }, grid(Math.ceil(t.size / 256)));
  return out;
}

const dropoutOp = defineOp<{ params: DropoutParams }>({
  name: 'dropout',
  reads: { inputs: [], out: false },
  forward: ([x], { params }) => ({ out: applyMask(x!, params) }),
  backward: ({ grad, attrs: { params } }) => [applyMask(grad, params)],
});

const dropAllOp = defineOp({
  name: 'dropoutAll',
  reads: { inputs: [], out: false },
  forward: ([x]) => ({ out: zeros(x!.shape) }),
  backward: ({ inputs: [x] }) => [zeros(x!.shape)],
});

// x [...] → [...]
/**
 * F.dropout(x, p, training=True): keeps each element with probability 1 − p, scaled by 1/(1 − p).
 * The same seed gives the same mask; p = 0 is an exact identity and p = 1 gives zeros.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  assertDtype(x, 'f32', 'dropout');
  if (!(p >= 0 && p <= 1)) throw new TensorError(`dropout: p must be in [0, 1], got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new TensorError(`dropout: seed must be an integer in [0, 2^32), got ${seed}`);
  if (p === 0) return reshape(x, x.shape);
  if (p === 1) return dropAllOp([x], {});
  // P(hash ≥ threshold) = 1 − threshold/2³² = 1 − p, to within 2⁻³².
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  return dropoutOp([x], { params: { n: x.size, seed, threshold, scale: 1 / (1 - p) } });
}
