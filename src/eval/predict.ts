// Whole-image prediction with bounded memory: the image is cut into a grid of `core`-sized cells and
// each cell is predicted from a window that adds `margin` pixels of context on every side (all windows
// the same size, shifted inward at the borders). Each pixel's label comes from exactly one window,
// so GPU memory is that of one window's forward, whatever the photo's size. A window as large as the
// image is plain whole-image inference. Unlike it, a window's ASPP image-pooling branch averages over
// the window, not the whole image: the one place tiling can change a label beyond the margin.
import { Tensor, scope } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { argmax } from '../ops/index.js';
import { gpu } from '../gpu/index.js';
import { normalizeImage, type Normalization } from '../data/augment.js';
import type { RawImage } from '../data/png.js';
import type { DeepLabResNet } from '../nn/index.js';

export interface TileOptions {
  /** Side of the cells whose labels one window decides. */
  core: number;
  /** Context added on each side of a cell. */
  margin: number;
}

export const DEFAULT_TILES: TileOptions = { core: 512, margin: 64 };

export interface Tile {
  /** The window fed to the network. */
  window: { x: number; y: number; width: number; height: number };
  /** The cell it labels (inside the window). */
  core: { x: number; y: number; width: number; height: number };
}

/** Cells along one axis: where each starts (`at`), its length, and its window's start. */
function span(size: number, core: number, margin: number): { start: number; length: number; at: number }[] {
  const windowLength = Math.min(size, core + 2 * margin);
  const out = [];
  for (let at = 0; at < size; at += core) out.push({ start: Math.min(Math.max(0, at - margin), size - windowLength), length: Math.min(core, size - at), at });
  return out;
}

/** The windows covering a height×width image; their cores tile it exactly once. */
export function tileGrid(height: number, width: number, o: TileOptions): Tile[] {
  if (!(o.core >= 8 && o.margin >= 0)) throw new RangeError(`tiles: core ${o.core} (≥ 8) and margin ${o.margin} (≥ 0)`);
  const ys = span(height, o.core, o.margin);
  const xs = span(width, o.core, o.margin);
  const wh = Math.min(height, o.core + 2 * o.margin);
  const ww = Math.min(width, o.core + 2 * o.margin);
  return ys.flatMap((y) =>
    xs.map((x) => ({ window: { x: x.start, y: y.start, width: ww, height: wh }, core: { x: x.at, y: y.at, width: x.length, height: y.length } })),
  );
}

export interface Prediction {
  /** H×W class indices. */
  labels: Uint8Array;
  /** Fraction of the pixels given each class. */
  shares: number[];
  tiles: number;
  /** The buffer pool's high-water mark during this prediction (weights included), bytes. */
  peakGpuBytes: number;
  /** Of which the model's own tensors, bytes. */
  modelGpuBytes: number;
}

/** Labels of an RGB image (HWC uint8) from `model`, one window at a time. */
export async function predictImage(model: DeepLabResNet, image: RawImage, norm: Normalization, tiles: TileOptions = DEFAULT_TILES): Promise<Prediction> {
  if (image.channels !== 3) throw new RangeError(`predictImage: RGB expected, got ${image.channels} channels`);
  const { width, height } = image;
  const pool = gpu().pool;
  pool.resetPeak();
  const modelGpuBytes = pool.stats.bytesInUse;
  model.eval();
  const labels = new Uint8Array(width * height);
  const grid = tileGrid(height, width, tiles);
  for (const t of grid) {
    const w = t.window;
    const crop = new Uint8Array(w.width * w.height * 3);
    for (let y = 0; y < w.height; y++) crop.set(image.data.subarray(((w.y + y) * width + w.x) * 3, ((w.y + y) * width + w.x + w.width) * 3), y * w.width * 3);
    const input = normalizeImage(crop, w.width, w.height, norm);
    const pred = noGrad(() => scope(() => argmax(model.forward(Tensor.from(input, [1, 3, w.height, w.width])).logits, 1)));
    const classes = (await pred.read()) as Uint32Array;
    pred.dispose();
    const c = t.core;
    for (let y = 0; y < c.height; y++) {
      const from = (c.y - w.y + y) * w.width + (c.x - w.x);
      labels.set(classes.subarray(from, from + c.width), (c.y + y) * width + c.x);
    }
  }
  const counts = new Array<number>(model.classes).fill(0);
  for (const l of labels) counts[l]!++;
  return { labels, shares: counts.map((n) => n / labels.length), tiles: grid.length, peakGpuBytes: pool.stats.peakBytesInUse, modelGpuBytes };
}

/** The photo with each pixel's class colour laid over it at `alpha`. */
export function overlay(image: RawImage, labels: Uint8Array, palette: readonly (readonly number[])[], alpha = 0.5): Uint8Array {
  const out = new Uint8Array(image.data.length);
  for (let p = 0; p < labels.length; p++) {
    const colour = palette[labels[p]!]!;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round((1 - alpha) * image.data[p * 3 + c]! + alpha * colour[c]!);
  }
  return out;
}
