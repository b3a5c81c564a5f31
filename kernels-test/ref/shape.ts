// CPU reference for the copies of src/ops/shape.ts (concat, narrow): elements addressed by coordinate in
// row-major order, so the test states where each output element comes from.

/** Element of a row-major tensor of `shape` at `coord`. */
export function at(data: ArrayLike<number>, shape: readonly number[], coord: number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + coord[d]!;
  return data[i]!;
}

/** Every coordinate of `shape`, in row-major order. */
export function coords(shape: readonly number[]): number[][] {
  const out: number[][] = [];
  const n = shape.reduce((p, d) => p * d, 1);
  for (let i = 0; i < n; i++) {
    const c: number[] = [];
    let rest = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      c.unshift(rest % shape[d]!);
      rest = Math.floor(rest / shape[d]!);
    }
    out.push(c);
  }
  return out;
}
