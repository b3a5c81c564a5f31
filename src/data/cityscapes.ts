// Cityscapes label conventions and the GTA5 / Cityscapes loaders (recipe §7). A data set is a list of
// (id, image, label) file pairs checked when opened: missing folders and files are errors naming what
// was expected, image/label size mismatches are reported and skipped (GTA5 has a few), and labels
// outside 0–18/255 after mapping are errors naming the file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DataError, pngSize, readLabelPng, readRgb } from './png.js';
import { IGNORE_LABEL } from './augment.js';

export const CITYSCAPES_CLASSES = [
  'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation', 'terrain',
  'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
] as const;

/** RGB per trainId. */
export const CITYSCAPES_PALETTE: readonly [number, number, number][] = [
  [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153], [250, 170, 30],
  [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], [255, 0, 0], [0, 0, 142], [0, 0, 70],
  [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
];

/** Cityscapes label id (0–255) → trainId; every id not in the 19 classes → 255. */
export const ID_TO_TRAIN_ID: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(IGNORE_LABEL);
  const ids = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33];
  ids.forEach((id, trainId) => (table[id] = trainId));
  return table;
})();

/** How a label file's values become trainIds. */
export type LabelEncoding = 'labelIds' | 'trainIds' | 'auto';

export interface SegPair {
  id: string;
  image: string;
  label: string;
  /** 'auto': palette PNGs hold label ids, grey PNGs hold trainIds (the GTA5 conventions). */
  encoding: LabelEncoding;
}

export interface SegSample {
  id: string;
  width: number;
  height: number;
  /** HWC RGB. */
  image: Uint8Array;
  /** trainIds 0–18 or 255, H×W. */
  label: Uint8Array;
}

export interface SegDataset {
  name: string;
  root: string;
  pairs: SegPair[];
  /** Pairs left out when opened, with the reason (size mismatches). */
  skipped: { id: string; reason: string }[];
  load(index: number): SegSample;
}

export interface OpenOptions {
  /** A list file of `image label` lines, paths relative to the root. */
  list?: string;
  /** Cityscapes split folder (default 'val'). */
  split?: string;
  /** Where skipped pairs are reported (default console.warn). */
  warn?: (message: string) => void;
}

function requireDir(path: string, what: string): void {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new DataError(`missing directory ${path} (expected ${what})`);
}

function pngsIn(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
}

/** Label bytes → trainIds, checked. */
export function toTrainIds(raw: Uint8Array, encoding: 'labelIds' | 'trainIds', path: string): Uint8Array {
  if (encoding === 'labelIds') {
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = ID_TO_TRAIN_ID[raw[i]];
    return out;
  }
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (v > 18 && v !== IGNORE_LABEL) {
      throw new DataError(
        `label ${path} has value ${v} at pixel ${i}: trainId labels must be 0-18 or 255 ` +
          '(label ids must come as palette PNGs, as GTA5 ships them, or as Cityscapes *_labelIds.png files)',
      );
    }
  }
  return raw;
}

function loadPair(pair: SegPair): SegSample {
  const img = readRgb(pair.image);
  const lab = readLabelPng(pair.label);
  if (img.width !== lab.width || img.height !== lab.height) {
    throw new DataError(`${pair.id}: image ${img.width}x${img.height} but label ${lab.width}x${lab.height} (${pair.image}, ${pair.label})`);
  }
  const encoding = pair.encoding === 'auto' ? (lab.palette ? 'labelIds' : 'trainIds') : pair.encoding;
  return { id: pair.id, width: img.width, height: img.height, image: img.data, label: toTrainIds(lab.data, encoding, pair.label) };
}

/** Checks every pair's files and sizes (PNG headers only); size mismatches are skipped with a warning. */
function makeDataset(name: string, root: string, all: SegPair[], warn: (m: string) => void): SegDataset {
  if (all.length === 0) throw new DataError(`${name} at ${root}: no image/label pairs found`);
  const pairs: SegPair[] = [];
  const skipped: { id: string; reason: string }[] = [];
  for (const pair of all) {
    const a = pngSize(pair.image);
    const b = pngSize(pair.label);
    if (a.width !== b.width || a.height !== b.height) {
      const reason = `image ${a.width}x${a.height} but label ${b.width}x${b.height}`;
      skipped.push({ id: pair.id, reason });
      warn(`${name}: skipping ${pair.id}: ${reason}`);
    } else {
      pairs.push(pair);
    }
  }
  if (pairs.length === 0) throw new DataError(`${name} at ${root}: every pair was skipped`);
  return { name, root, pairs, skipped, load: (i) => loadPair(pairs[i]) };
}

function readList(root: string, list: string, encodingOf: (label: string) => LabelEncoding): SegPair[] {
  const listPath = existsSync(list) ? list : join(root, list);
  if (!existsSync(listPath)) throw new DataError(`missing list file ${list} (looked in the working folder and in ${root})`);
  const lines = readFileSync(listPath, 'utf8').split('\n');
  const pairs: SegPair[] = [];
  lines.forEach((raw, n) => {
    const line = raw.trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new DataError(`${listPath}:${n + 1}: expected "image label", got "${line}"`);
    const [image, label] = parts.map((p) => join(root, p));
    for (const f of [image, label]) if (!existsSync(f)) throw new DataError(`missing file ${f} (${listPath}:${n + 1})`);
    pairs.push({ id: basename(parts[0]).replace(/\.png$/i, ''), image, label, encoding: encodingOf(label) });
  });
  return pairs;
}

/** GTA5: `images/NNNNN.png` with `labels/NNNNN.png` (palette index = label id, or trainId grey). */
export function openGta5(root: string, opts: OpenOptions = {}): SegDataset {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  requireDir(root, 'the GTA5 root with images/ and labels/');
  let pairs: SegPair[];
  if (opts.list) {
    pairs = readList(root, opts.list, () => 'auto');
  } else {
    const images = join(root, 'images');
    const labels = join(root, 'labels');
    requireDir(images, 'GTA5 images/NNNNN.png');
    requireDir(labels, 'GTA5 labels/NNNNN.png');
    pairs = pngsIn(images).map((f) => {
      const label = join(labels, f);
      if (!existsSync(label)) throw new DataError(`missing file ${label} (the label of ${join(images, f)})`);
      return { id: f.replace(/\.png$/i, ''), image: join(images, f), label, encoding: 'auto' as const };
    });
  }
  return makeDataset('gta5', root, pairs, warn);
}

const cityscapesEncoding = (label: string): LabelEncoding =>
  /_labelIds\.png$/i.test(label) ? 'labelIds' : /_labelTrainIds\.png$/i.test(label) ? 'trainIds' : 'auto';

/** Cityscapes: `leftImg8bit/{split}/{city}/*_leftImg8bit.png` with `gtFine/{split}/{city}/*_gtFine_labelTrainIds.png`
 *  (or `_gtFine_labelIds.png`, mapped to trainIds). Sorted by file name, like the official val list. */
export function openCityscapes(root: string, opts: OpenOptions = {}): SegDataset {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  requireDir(root, 'the Cityscapes root with leftImg8bit/ and gtFine/');
  let pairs: SegPair[];
  if (opts.list) {
    pairs = readList(root, opts.list, cityscapesEncoding);
  } else {
    const split = opts.split ?? 'val';
    const images = join(root, 'leftImg8bit', split);
    const labels = join(root, 'gtFine', split);
    requireDir(images, `Cityscapes leftImg8bit/${split}/{city}/*_leftImg8bit.png`);
    requireDir(labels, `Cityscapes gtFine/${split}/{city}/*_gtFine_labelTrainIds.png or _labelIds.png`);
    pairs = [];
    const cities = readdirSync(images).filter((c) => statSync(join(images, c)).isDirectory()).sort();
    for (const city of cities) {
      for (const f of pngsIn(join(images, city)).filter((n) => n.endsWith('_leftImg8bit.png'))) {
        const id = f.slice(0, -'_leftImg8bit.png'.length);
        const trainIds = join(labels, city, `${id}_gtFine_labelTrainIds.png`);
        const labelIds = join(labels, city, `${id}_gtFine_labelIds.png`);
        const label = existsSync(trainIds) ? trainIds : existsSync(labelIds) ? labelIds : null;
        if (!label) throw new DataError(`missing file ${trainIds} (or ${basename(labelIds)}), the label of ${join(images, city, f)}`);
        pairs.push({ id, image: join(images, city, f), label, encoding: cityscapesEncoding(label) });
      }
    }
  }
  return makeDataset('cityscapes', root, pairs, warn);
}

/** Opens `gta5:DIR` or `cityscapes:DIR` (the CLI's --train/--val form). */
export function openSegDataset(spec: string, opts: OpenOptions = {}): SegDataset {
  const m = /^(gta5|cityscapes):(.+)$/.exec(spec);
  if (!m) throw new DataError(`data set "${spec}": expected gta5:DIR or cityscapes:DIR`);
  return m[1] === 'gta5' ? openGta5(m[2], opts) : openCityscapes(m[2], opts);
}
