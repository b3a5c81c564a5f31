// CPU reference for the non-finite count: plain loops over the values, from the definition.

/** For each array, how many of its values are Inf, -Inf or NaN. */
export function countNonFiniteRef(arrays: readonly ArrayLike<number>[]): number[] {
  return arrays.map((a) => {
    let n = 0;
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) n++;
    return n;
  });
}
