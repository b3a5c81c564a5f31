// float64 CPU references for the reductions (src/ops/reduce.ts): sum, mean, max and the first arg-max
// along one axis, plain loops over the [outer, r, inner] view, their gradients given the upstream g, and
// the non-finite count of a list of arrays (from the definition).

export type Reduction = 'sum' | 'mean' | 'max';

function view(shape: readonly number[], axis: number): { outer: number; r: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, r: shape[axis]!, inner };
}

/** The reduction along `axis` ([outer·inner] values) and, for max, the index of the first maximum. */
export function reduceRef(x: ArrayLike<number>, shape: readonly number[], axis: number, kind: Reduction): { out: Float64Array; argmax: number[] } {
  const { outer, r, inner } = view(shape, axis);
  const out = new Float64Array(outer * inner);
  const argmax: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = kind === 'max' ? -Infinity : 0;
      let at = 0;
      for (let k = 0; k < r; k++) {
        const v = x[(o * r + k) * inner + i]!;
        if (kind !== 'max') acc += v;
        else if (v > acc) [acc, at] = [v, k];
      }
      out[o * inner + i] = kind === 'mean' ? acc / r : acc;
      argmax.push(at);
    }
  }
  return { out, argmax };
}

/** d(Σ reduce(x)·g)/dx: g spread along the axis (÷ r for mean; to the first maximum only for max). */
export function reduceGradRef(x: ArrayLike<number>, g: ArrayLike<number>, shape: readonly number[], axis: number, kind: Reduction): Float64Array {
  const { outer, r, inner } = view(shape, axis);
  const { argmax } = reduceRef(x, shape, axis, 'max');
  const dx = new Float64Array(outer * r * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const gi = g[o * inner + i]!;
      for (let k = 0; k < r; k++) {
        const w = kind === 'sum' ? 1 : kind === 'mean' ? 1 / r : k === argmax[o * inner + i] ? 1 : 0;
        dx[(o * r + k) * inner + i] = gi * w;
      }
    }
  }
  return dx;
}

/** For each array, how many of its values are Inf, -Inf or NaN. */
export function countNonFiniteRef(arrays: readonly ArrayLike<number>[]): number[] {
  return arrays.map((a) => {
    let n = 0;
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
    return n;
  });
}
