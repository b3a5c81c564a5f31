// VisDA-17 classification (recipe §7): `train/{class}/*.png` (synthetic renders) and
// `validation/{class}/*.jpg` (real photographs), each split root holding an `image_list.txt` of
// `relpath label` lines (paths relative to that root, labels 0–11 in VISDA_CLASSES order), as the
// reference reads them. `visda:DIR` takes either a split root (DIR/image_list.txt) or the folder above
// both splits, where --train picks DIR/train and --val DIR/validation.
// Checked when opened: the list exists and is not empty, every line is `relpath label` with an integer
// label in 0..C−1, every listed file exists; errors name the list file and line. Images are read when
// loaded (readImageFile: PNG or JPEG); a corrupt one is named with its list line.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ClsImage } from './cls-augment.js';
import { readImageFile } from './image-file.js';
import { DataError } from './png.js';

export const VISDA_CLASSES = ['aeroplane', 'bicycle', 'bus', 'car', 'horse', 'knife', 'motorcycle', 'person', 'plant', 'skateboard', 'train', 'truck'] as const;

/** One image of a classification data set and its class. */
export interface ClsItem {
  path: string;
  label: number;
  /** Where it is listed, `list:line` (for error messages). */
  where: string;
}

export interface ClsDataset {
  name: string;
  /** The split root the list's paths are relative to. */
  root: string;
  classNames: readonly string[];
  items: ClsItem[];
  load(index: number): ClsImage;
}

/** Parses an `image_list.txt` of `relpath label` lines under `root` and checks each line and file. */
export function readImageList(root: string, listPath: string, classes: number): ClsItem[] {
  if (!existsSync(listPath)) throw new DataError(`missing file: ${listPath} (the image list: "relpath label" lines)`);
  const items: ClsItem[] = [];
  readFileSync(listPath, 'utf8').split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${listPath}:${n + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 2 || !/^-?\d+$/.test(parts[1])) throw new DataError(`${where}: expected "relpath label" with an integer label, got "${line}"`);
    const label = Number(parts[1]);
    if (label < 0 || label >= classes) throw new DataError(`${where}: label ${label} of ${parts[0]} is outside 0..${classes - 1}`);
    const path = join(root, parts[0]);
    if (!existsSync(path)) throw new DataError(`missing file: ${path} (${where})`);
    items.push({ path, label, where });
  });
  if (items.length === 0) throw new DataError(`${listPath}: no images listed`);
  return items;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** Opens a VisDA-17 split: `dir` is a split root, or the folder holding `train/` and `validation/`. */
export function openVisda(dir: string, role: 'train' | 'val'): ClsDataset {
  if (!isDir(dir)) throw new DataError(`missing directory ${dir} (expected VisDA-17's train/ and validation/, or one of them)`);
  const split = role === 'train' ? 'train' : 'validation';
  const root = existsSync(join(dir, 'image_list.txt')) || !isDir(join(dir, split)) ? dir : join(dir, split);
  const items = readImageList(root, join(root, 'image_list.txt'), VISDA_CLASSES.length);
  const load = (i: number): ClsImage => {
    const item = items[i];
    let img;
    try {
      img = readImageFile(item.path);
    } catch (e) {
      throw new DataError(`${(e as Error).message} (${item.where})`);
    }
    return { width: img.width, height: img.height, image: img.data, label: item.label };
  };
  return { name: `visda-${split}`, root, classNames: VISDA_CLASSES, items, load };
}

/** Opens `visda:DIR` (the CLI's --train/--val form). */
export function openClsDataset(spec: string, role: 'train' | 'val'): ClsDataset {
  const m = /^visda:(.+)$/.exec(spec);
  if (!m) throw new DataError(`data set "${spec}": expected visda:DIR`);
  return openVisda(m[1], role);
}
