// PNG reading and writing for data sets and pictures. Palette PNGs keep their palette indices (GTA5
// labels are palette PNGs whose index is the Cityscapes label id: never read them as colours).
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { decode, encode } from 'fast-png';

export class DataError extends Error {
  override name = 'DataError';
}

export interface RawImage {
  width: number;
  height: number;
  /** 1 (grey or palette indices), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** HWC, 8 bits per sample (16-bit PNGs are reduced to their high byte, except grey labels). */
  data: Uint8Array;
  /** Set for palette PNGs: `data` holds indices into it. */
  palette?: number[][];
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `missing file: ${path}` : `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Unpacks 1/2/4-bit samples into one byte each. */
function unpackBits(packed: ArrayLike<number>, width: number, height: number, channels: number, depth: number): Uint8Array {
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const out = new Uint8Array(width * height * channels);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) {
      const byte = packed[y * rowBytes + Math.floor(i / perByte)];
      out[y * width * channels + i] = (byte >> (8 - depth * (1 + (i % perByte)))) & mask;
    }
  }
  return out;
}

/** Reads a PNG as stored: palette indices stay indices. Errors name the file. */
export function readPng(path: string): RawImage {
  const bytes = readBytes(path);
  let png;
  try {
    png = decode(bytes);
  } catch (e) {
    throw new DataError(`corrupt PNG ${path}: ${(e as Error).message}`);
  }
  const { width, height, channels, depth } = png;
  let data: Uint8Array;
  if (depth === 16) {
    data = new Uint8Array(png.data.length);
    for (let i = 0; i < data.length; i++) data[i] = png.data[i] >> 8;
  } else if (depth < 8) {
    data = unpackBits(png.data, width, height, channels, depth);
    // Low-depth grey means intensity, scale it to 8 bits; palette indices stay as they are.
    if (!png.palette) {
      const k = 255 / ((1 << depth) - 1);
      for (let i = 0; i < data.length; i++) data[i] = Math.round(data[i] * k);
    }
  } else {
    data = png.data instanceof Uint8Array ? png.data : new Uint8Array(png.data);
  }
  if (data.length !== width * height * channels) throw new DataError(`corrupt PNG ${path}: ${data.length} samples for ${width}x${height}x${channels}`);
  return { width, height, channels, data, palette: png.palette as number[][] | undefined };
}

/** Reads any PNG as RGB, HWC uint8 (palette → colours, grey → replicated, alpha dropped). */
export function readRgb(path: string): RawImage {
  const img = readPng(path);
  const n = img.width * img.height;
  const rgb = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      let v: number;
      if (img.palette) v = img.palette[img.data[p]]?.[c] ?? 0;
      else if (img.channels <= 2) v = img.data[p * img.channels];
      else v = img.data[p * img.channels + c];
      rgb[p * 3 + c] = v;
    }
  }
  return { width: img.width, height: img.height, channels: 3, data: rgb };
}

/** Reads a label PNG: palette indices or grey values, one byte per pixel. RGB labels are refused. */
export function readLabelPng(path: string): RawImage {
  const img = readPng(path);
  if (img.palette || img.channels === 1) return img;
  throw new DataError(`label PNG ${path} has ${img.channels} channels: expected palette indices or a greyscale id image`);
}

/** Width and height from the IHDR chunk, without decoding the image. */
export function pngSize(path: string): { width: number; height: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `missing file: ${path}` : `cannot read ${path}: ${(e as Error).message}`);
  }
  const head = Buffer.alloc(24);
  const got = readSync(fd, head, 0, 24, 0);
  closeSync(fd);
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (got < 24 || signature.some((b, i) => head[i] !== b) || head.toString('latin1', 12, 16) !== 'IHDR') {
    throw new DataError(`corrupt PNG ${path}: no PNG signature and IHDR header`);
  }
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

function writeEncoded(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

/** Writes an RGB (HWC uint8) PNG, creating the folder. */
export function writeRgbPng(path: string, width: number, height: number, rgb: Uint8Array): void {
  if (rgb.length !== width * height * 3) throw new DataError(`writeRgbPng ${path}: ${rgb.length} bytes for ${width}x${height} RGB`);
  writeEncoded(path, encode({ width, height, data: rgb, channels: 3, depth: 8 }));
}

/** Writes an 8-bit greyscale PNG. */
export function writeGreyPng(path: string, width: number, height: number, grey: Uint8Array): void {
  if (grey.length !== width * height) throw new DataError(`writeGreyPng ${path}: ${grey.length} bytes for ${width}x${height}`);
  writeEncoded(path, encode({ width, height, data: grey, channels: 1, depth: 8 }));
}

/** Writes an 8-bit palette PNG whose pixels are the given indices (as GTA5 stores its labels). */
export function writePalettePng(path: string, width: number, height: number, indices: Uint8Array, palette: number[][]): void {
  if (indices.length !== width * height) throw new DataError(`writePalettePng ${path}: ${indices.length} bytes for ${width}x${height}`);
  writeEncoded(path, encode({ width, height, data: indices, channels: 1, depth: 8, palette }));
}
