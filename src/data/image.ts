// Small CPU image helpers shared by the augmentation and the embedded data set. Images are HWC
// Float32Array in [0, 1] unless stated.

/** Per output index: the first input index and the normalised weights of a triangle filter whose
 *  support widens when shrinking (PIL's antialiased bilinear; plain half-pixel bilinear when enlarging). */
function filterTaps(inSize: number, outSize: number): { start: Int32Array; taps: number; weights: Float32Array } {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize, Math.ceil(center + support));
    start[i] = lo;
    let total = 0;
    for (let j = lo; j < hi && j - lo < taps; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / support));
      weights[i * taps + j - lo] = w;
      total += w;
    }
    for (let t = 0; t < taps; t++) weights[i * taps + t] /= total || 1;
  }
  return { start, taps, weights };
}

/** A rectangle of an image, in pixels. */
export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Resizes an HWC image (any channel count) to outW×outH with the antialiased bilinear filter,
 *  computing only the output pixels inside `win` (default: all of them); returns the window, HWC. */
export function resize(src: Float32Array, width: number, height: number, channels: number, outW: number, outH: number, win: Window = { x: 0, y: 0, width: outW, height: outH }): Float32Array {
  const out = new Float32Array(win.width * win.height * channels);
  if (win.width === 0 || win.height === 0) return out;
  const h = filterTaps(width, outW);
  const v = filterTaps(height, outH);
  // Only the source rows that the window's vertical taps reach go through the horizontal pass.
  const rowLo = v.start[win.y];
  const rowHi = Math.min(height, v.start[win.y + win.height - 1] + v.taps);
  const stride = win.width * channels;
  const mid = new Float32Array((rowHi - rowLo) * stride);
  for (let y = rowLo; y < rowHi; y++) {
    for (let xi = 0; xi < win.width; xi++) {
      const x = win.x + xi;
      const s = h.start[x];
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let t = 0; t < h.taps && s + t < width; t++) acc += h.weights[x * h.taps + t] * src[(y * width + s + t) * channels + c];
        mid[(y - rowLo) * stride + xi * channels + c] = acc;
      }
    }
  }
  for (let yi = 0; yi < win.height; yi++) {
    const y = win.y + yi;
    const s = v.start[y];
    for (let t = 0; t < v.taps && s + t < height; t++) {
      const w = v.weights[y * v.taps + t];
      if (w === 0) continue;
      const row = (s + t - rowLo) * stride;
      for (let i = 0; i < stride; i++) out[yi * stride + i] += w * mid[row + i];
    }
  }
  return out;
}

/** Nearest-neighbour resize of a one-channel map (labels) to outW×outH, only the window: output pixel
 *  centres sampled in the input, which is first flipped horizontally when `flip`. */
export function resizeNearest(src: Uint8Array, width: number, height: number, outW: number, outH: number, win: Window = { x: 0, y: 0, width: outW, height: outH }, flip = false): Uint8Array {
  const out = new Uint8Array(win.width * win.height);
  for (let yi = 0; yi < win.height; yi++) {
    const sy = Math.min(height - 1, Math.floor(((win.y + yi + 0.5) * height) / outH));
    for (let xi = 0; xi < win.width; xi++) {
      const sx = Math.min(width - 1, Math.floor(((win.x + xi + 0.5) * width) / outW));
      out[yi * win.width + xi] = src[sy * width + (flip ? width - 1 - sx : sx)];
    }
  }
  return out;
}

export function toFloat(u8: Uint8Array): Float32Array {
  const out = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) out[i] = u8[i] / 255;
  return out;
}

export function toBytes(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length);
  // Clamp and round without Math calls (slow under jest's vm context); equal to Math.round on [0, 255].
  for (let i = 0; i < f.length; i++) {
    const v = f[i] < 0 ? 0 : f[i] > 1 ? 1 : f[i];
    out[i] = (v * 255 + 0.5) | 0;
  }
  return out;
}

/** ITU-R 601 luma, the weights torchvision's rgb_to_grayscale uses. */
export function luma(r: number, g: number, b: number): number {
  return 0.2989 * r + 0.587 * g + 0.114 * b;
}
