// float64 CPU references for matmul and linear, written from the definitions (not the WGSL).

/** Element [i][j] of a row-major rows×cols matrix, or of its transpose when `trans`. */
function at(x: ArrayLike<number>, offset: number, cols: number, trans: boolean, i: number, j: number): number {
  return trans ? x[offset + j * cols + i]! : x[offset + i * cols + j]!;
}

/**
 * op(A)·op(B) for shapes [M,K]/[B,M,K] (or transposed); a 2-D operand is shared by every batch entry.
 * Returns the product, [batch, M, N] flattened.
 */
export function matmulRef(
  a: ArrayLike<number>,
  sa: number[],
  b: ArrayLike<number>,
  sb: number[],
  transA = false,
  transB = false,
): Float64Array {
  const [ra, ca] = sa.slice(-2) as [number, number];
  const [rb, cb] = sb.slice(-2) as [number, number];
  const m = transA ? ca : ra;
  const k = transA ? ra : ca;
  const n = transB ? rb : cb;
  const batch = Math.max(sa.length === 3 ? sa[0]! : 1, sb.length === 3 ? sb[0]! : 1);
  const out = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const aOff = sa.length === 3 ? p * ra * ca : 0;
    const bOff = sb.length === 3 ? p * rb * cb : 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += at(a, aOff, ca, transA, i, q) * at(b, bOff, cb, transB, q, j);
        out[(p * m + i) * n + j] = s;
      }
    }
  }
  return out;
}

/** x [N,in] · weightᵀ + bias, as nn.Linear. */
export function linearRef(x: ArrayLike<number>, n: number, inF: number, w: ArrayLike<number>, outF: number, bias: ArrayLike<number> | null): Float64Array {
  const y = matmulRef(x, [n, inF], w, [outF, inF], false, true);
  if (bias) for (let i = 0; i < n; i++) for (let j = 0; j < outF; j++) y[i * outF + j] += bias[j]!;
  return y;
}
