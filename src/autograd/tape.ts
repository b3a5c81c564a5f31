// The tape, micrograd-style: every op whose inputs need gradients leaves a record on its output;
// backward() walks the records from a scalar in reverse topological order, calling each op's
// backward rule and summing gradients that meet at a tensor.
import { Tensor, TensorError, setRecorder, readByBackward } from '../tensor/index.js';
import { add, fill } from '../ops/index.js';

let noGradDepth = 0;

setRecorder((inputs) => noGradDepth === 0 && inputs.some((t) => t.requiresGrad));

export function isRecording(): boolean {
  return noGradDepth === 0;
}

/** Runs fn with recording off: nothing it computes carries gradients. */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try {
    return fn();
  } finally {
    noGradDepth--;
  }
}

/** A view of t that is off the tape (shares memory). */
export function detach(t: Tensor): Tensor {
  return t.view(t.shape);
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.gradFn?.inputs ?? []) if (input.requiresGrad && !seen.has(input)) stack.push([input, false]);
  }
  return order;
}

/**
 * Backpropagates from `loss` (a one-element tensor unless `seed` is given). Leaf tensors with
 * requiresGrad get `.grad` (accumulated across calls; kept out of scopes); the tape is freed.
 */
export function backward(loss: Tensor, seed?: Tensor): void {
  if (!loss.requiresGrad) throw new TensorError(`backward: ${loss} does not require grad (nothing on the tape leads to it)`);
  if (!seed && loss.size !== 1) throw new TensorError(`backward: ${loss} is not a scalar; pass a seed gradient`);
  const order = topoOrder(loss);
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    grads.set(loss, seed ?? fill(loss.shape, 1));
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      const rec = t.gradFn;
      if (!g) continue;
      if (!rec) {
        // A leaf: accumulate into .grad, which outlives the caller's scope.
        if (t.grad) {
          const sum = add(t.grad, g);
          t.grad.dispose();
          t.grad = sum.keep();
          if (g !== seed) g.dispose();
        } else {
          t.grad = g === seed ? g.view(g.shape).keep() : g.keep();
        }
        grads.delete(t);
        continue;
      }
      const inGrads = rec.op.backward!({ grad: g, inputs: rec.inputs, out: t, saved: rec.saved, attrs: rec.attrs });
      // An intermediate the forward let go of (releaseIntermediate) goes once its last reader ran, as
      // PyTorch frees a saved tensor with its node.
      for (const r of readByBackward(rec)) if (--r.backwardReaders === 0 && r.releaseAfterBackward) r.releaseData();
      rec.inputs.forEach((input, k) => {
        const gi = inGrads[k];
        if (!gi || !input.requiresGrad) {
          if (gi && gi !== g) gi.dispose();
          return;
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, add(prev, gi));
          prev.dispose();
          if (gi !== g) gi.dispose();
        } else {
          grads.set(input, gi === g ? g.view(g.shape) : gi);
        }
      });
      if (g !== seed) g.dispose();
      grads.delete(t);
      for (const s of rec.saved) s.dispose();
      t.gradFn = null;
    }
  });
}

/** Disposes and clears the gradients of the given parameters. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
