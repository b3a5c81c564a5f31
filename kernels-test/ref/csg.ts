// float64 CPU references for CSG's pieces, written from recipe §2, §3 and §6 (plain loops).

/** Central differences of a scalar float64 function: the reference for every backward here. */
export function numericGradient(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-6): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const keep = xs[i]!;
    xs[i] = keep + h;
    const up = f(xs);
    xs[i] = keep - h;
    const down = f(xs);
    xs[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export function dotWith(a: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * w[i]!;
  return s;
}

export function l2NormalizeRef(x: ArrayLike<number>, rows: number, dim: number, eps = 1e-12): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r * dim + d]! ** 2;
    const norm = Math.max(Math.sqrt(s), eps);
    for (let d = 0; d < dim; d++) out[r * dim + d] = x[r * dim + d]! / norm;
  }
  return out;
}

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

export interface NceRef {
  loss: number;
  rowLoss: Float64Array;
  ranks: number[];
  /** Gradient of the mean loss to q [N, D]. */
  dq: Float64Array;
}

/** InfoNCE from the definition: logits [q·k, q·queue_j] / τ, cross-entropy to index 0, mean over N. */
export function infoNceRef(q: ArrayLike<number>, k: ArrayLike<number>, queue: ArrayLike<number>, n: number, dim: number, keys: number, tau: number): NceRef {
  const rowLoss = new Float64Array(n);
  const dq = new Float64Array(n * dim);
  const ranks: number[] = [];
  for (let i = 0; i < n; i++) {
    const logits = new Float64Array(keys + 1);
    for (let d = 0; d < dim; d++) logits[0]! += (q[i * dim + d]! * k[i * dim + d]!) / tau;
    for (let j = 0; j < keys; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += q[i * dim + d]! * queue[d * keys + j]!;
      logits[j + 1] = s / tau;
    }
    const max = Math.max(...logits);
    let sum = 0;
    for (const l of logits) sum += Math.exp(l - max);
    const lse = max + Math.log(sum);
    rowLoss[i] = lse - logits[0]!;
    ranks.push(logits.slice(1).filter((l) => l > logits[0]!).length);
    for (let d = 0; d < dim; d++) {
      let g = (Math.exp(logits[0]! - lse) - 1) * k[i * dim + d]!;
      for (let j = 0; j < keys; j++) g += Math.exp(logits[j + 1]! - lse) * queue[d * keys + j]!;
      dq[i * dim + d] = g / (tau * n);
    }
  }
  return { loss: rowLoss.reduce((a, v) => a + v, 0) / n, rowLoss, ranks, dq };
}

/** Hyperspherical energy, mean over ordered pairs i ≠ j of f_s(sqrt(‖ŵ_i − ŵ_j‖² + eps)) (sum when mean = false). */
export function hseRef(x: ArrayLike<number>, n: number, dim: number, s: number, eps: number, mean = true): number {
  const w = l2NormalizeRef(x, n, dim);
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      let sq = 0;
      for (let d = 0; d < dim; d++) sq += (w[i * dim + d]! - w[j * dim + d]!) ** 2;
      const dist = Math.sqrt(sq + eps);
      total += s === 0 ? Math.log(1 / dist) : dist ** -s;
    }
  return mean ? total / (n * (n - 1)) : total;
}
