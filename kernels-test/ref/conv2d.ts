// float64 reference for conv2d and its gradients, written from the definition
// y[n,o,i,j] = b[o] + Σ_{c,ky,kx} x[n,c, i·s − p + ky·d, j·s − p + kx·d] · w[o,c,ky,kx] (zero outside).
export interface RefConv {
  /** x shape [N, C, H, W] and weight shape [O, C, kh, kw]. */
  x: readonly number[];
  w: readonly number[];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

function dims(r: RefConv) {
  const [n, c, h, w] = r.x as [number, number, number, number];
  const [o, , kh, kw] = r.w as [number, number, number, number];
  return { n, c, h, w, o, kh, kw, stride: r.stride, padding: r.padding, dilation: r.dilation };
}

export function refOutSize(r: RefConv): [number, number] {
  const g = dims(r);
  const ho = Math.floor((g.h + 2 * g.padding[0] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0]) + 1;
  const wo = Math.floor((g.w + 2 * g.padding[1] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1]) + 1;
  return [ho, wo];
}

/** Calls visit(xIndex, wIndex, yIndex) for every multiply of the convolution. */
function eachTerm(r: RefConv, visit: (xi: number, wi: number, yi: number) => void): void {
  const g = dims(r);
  const [ho, wo] = refOutSize(r);
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++) {
          const yi = ((n * g.o + o) * ho + i) * wo + j;
          for (let c = 0; c < g.c; c++)
            for (let ky = 0; ky < g.kh; ky++) {
              const y = i * g.stride[0] - g.padding[0] + ky * g.dilation[0];
              if (y < 0 || y >= g.h) continue;
              for (let kx = 0; kx < g.kw; kx++) {
                const x = j * g.stride[1] - g.padding[1] + kx * g.dilation[1];
                if (x < 0 || x >= g.w) continue;
                visit(((n * g.c + c) * g.h + y) * g.w + x, ((o * g.c + c) * g.kh + ky) * g.kw + kx, yi);
              }
            }
        }
}

export function refConvForward(r: RefConv, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): Float64Array {
  const g = dims(r);
  const [ho, wo] = refOutSize(r);
  const y = new Float64Array(g.n * g.o * ho * wo);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (ho * wo)) % g.o]!;
  eachTerm(r, (xi, wi, yi) => (y[yi]! += x[xi]! * w[wi]!));
  return y;
}

/** Gradients of Σ y·dy with respect to x, w and b. */
export function refConvBackward(r: RefConv, x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const g = dims(r);
  const [ho, wo] = refOutSize(r);
  const dx = new Float64Array(g.n * g.c * g.h * g.w);
  const dw = new Float64Array(g.o * g.c * g.kh * g.kw);
  const db = new Float64Array(g.o);
  eachTerm(r, (xi, wi, yi) => {
    dx[xi]! += w[wi]! * dy[yi]!;
    dw[wi]! += x[xi]! * dy[yi]!;
  });
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (ho * wo)) % g.o]! += dy[i]!;
  return { dx, dw, db };
}
