// float64 CPU references for the patch ops (src/ops/patch.ts), written from recipe §2 (plain loops):
// PyTorch chunk pieces, the even patch grid, A-Pool and plain averaging per piece.

/** PyTorch chunk: the [start, end) ranges a side of length n is cut into. */
export function chunkRanges(n: number, chunks: number): [number, number][] {
  const size = Math.ceil(n / chunks);
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += size) out.push([s, Math.min(s + size, n)]);
  return out;
}

export interface MapShape {
  B: number;
  C: number;
  H: number;
  W: number;
}

/** Pixels of each piece vector, in vector order (r·gc + c)·B + b: [b, y, x] triples. */
function pieces({ B, H, W }: MapShape, chunks: number): { b: number; pixels: [number, number][] }[] {
  const rows = chunkRanges(H, chunks);
  const cols = chunkRanges(W, chunks);
  const out: { b: number; pixels: [number, number][] }[] = [];
  for (const [y0, y1] of rows) {
    for (const [x0, x1] of cols) {
      for (let b = 0; b < B; b++) {
        const pixels: [number, number][] = [];
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) pixels.push([y, x]);
        out.push({ b, pixels });
      }
    }
  }
  return out;
}

/**
 * A-Pool (or plain averaging when src is null) of each piece: v̄ = mean of src, a_ij ∝ <src_ij, v̄>,
 * pooled = Σ a_ij·values_ij → [P·B, C].
 */
export function poolPiecesRef(src: ArrayLike<number> | null, values: ArrayLike<number>, shape: MapShape, chunks: number): Float64Array {
  const { C, H, W } = shape;
  const at = (t: ArrayLike<number>, b: number, c: number, y: number, x: number) => t[((b * C + c) * H + y) * W + x]!;
  const list = pieces(shape, chunks);
  const out = new Float64Array(list.length * C);
  list.forEach(({ b, pixels }, p) => {
    let weights = pixels.map(() => 1 / pixels.length);
    if (src) {
      const vbar = new Float64Array(C);
      for (const [y, x] of pixels) for (let c = 0; c < C; c++) vbar[c]! += at(src, b, c, y, x) / pixels.length;
      const logits = pixels.map(([y, x]) => {
        let s = 0;
        for (let c = 0; c < C; c++) s += at(src, b, c, y, x) * vbar[c]!;
        return s;
      });
      const total = logits.reduce((a, v) => a + v, 0);
      weights = logits.map((l) => l / total);
    }
    pixels.forEach(([y, x], i) => {
      for (let c = 0; c < C; c++) out[p * C + c]! += weights[i]! * at(values, b, c, y, x);
    });
  });
  return out;
}

/** Even patch grid: [B, C, H, W] → [g²·B, C, H/g, W/g]. */
export function patchGridRef(x: ArrayLike<number>, { B, C, H, W }: MapShape, g: number): Float64Array {
  const ph = H / g;
  const pw = W / g;
  const out = new Float64Array(B * C * H * W);
  let i = 0;
  for (let r = 0; r < g; r++)
    for (let cc = 0; cc < g; cc++)
      for (let b = 0; b < B; b++)
        for (let c = 0; c < C; c++)
          for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) out[i++] = x_(b, c, r * ph + y, cc * pw + x);
  return out;
  function x_(b: number, c: number, y: number, xx: number): number {
    return x[((b * C + c) * H + y) * W + xx]!;
  }
}
