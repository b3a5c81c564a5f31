// float64 CPU references for elementwise ops, written from the broadcasting rules, not the WGSL.
export function broadcastRef(
  a: ArrayLike<number>,
  sa: number[],
  b: ArrayLike<number>,
  sb: number[],
  f: (x: number, y: number) => number,
): { data: Float64Array; shape: number[] } {
  const rank = Math.max(sa.length, sb.length);
  const pa = [...Array(rank - sa.length).fill(1), ...sa];
  const pb = [...Array(rank - sb.length).fill(1), ...sb];
  const shape = pa.map((d, i) => Math.max(d, pb[i]!));
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float64Array(n);
  const coord = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let rest = i;
    for (let d = rank - 1; d >= 0; d--) {
      coord[d] = rest % shape[d]!;
      rest = Math.floor(rest / shape[d]!);
    }
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      ia = ia * pa[d]! + (pa[d] === 1 ? 0 : coord[d]!);
      ib = ib * pb[d]! + (pb[d] === 1 ? 0 : coord[d]!);
    }
    out[i] = f(a[ia]!, b[ib]!);
  }
  return { data: out, shape };
}

export function unaryRef(x: ArrayLike<number>, f: (v: number) => number): Float64Array {
  return Float64Array.from(x, f);
}
