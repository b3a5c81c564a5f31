// Input convention of the Caffe/Keras ImageNet ResNet (weights:imagenet): BGR channel order, 0–255
// pixel values minus a per-channel mean, no division by 255, no std.

/** Per-channel means in B, G, R order. */
export const CAFFE_BGR_MEAN = [103.939, 116.779, 123.68] as const;

/**
 * Interleaved RGB or RGBA uint8 pixels (row-major H×W×channels, alpha ignored) → a [1, 3, H, W] float32
 * NCHW array in Caffe convention: channel 0 = B − 103.939, 1 = G − 116.779, 2 = R − 123.68.
 */
export function caffeInput(pixels: ArrayLike<number>, height: number, width: number, channels: 3 | 4 = 3): Float32Array {
  const hw = height * width;
  if (pixels.length !== hw * channels) {
    throw new Error(`caffeInput: ${pixels.length} values do not make a ${height}×${width} image with ${channels} channels (${hw * channels})`);
  }
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < 3; c++) out[c * hw + p] = pixels[p * channels + 2 - c] - CAFFE_BGR_MEAN[c];
  }
  return out;
}
