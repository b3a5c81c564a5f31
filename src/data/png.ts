// PNG reading and writing for data sets and pictures. Palette PNGs keep their palette indices (GTA5
// labels are palette PNGs whose index is the Cityscapes label id: never read them as colours).
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { inflateSync } from 'node:zlib';
import { encode } from 'fast-png';

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

/** A file's bytes; a missing or unreadable file is a DataError naming it. */
export function readBytes(path: string): Uint8Array {
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

const CHANNELS_OF_COLOUR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Undoes the per-row PNG filters (`bpp` bytes per pixel, at least 1). One loop per filter type:
 *  this runs over every byte of every image read. */
function unfilter(raw: Uint8Array, height: number, rowBytes: number, bpp: number, what: string): Uint8Array {
  const out = new Uint8Array(height * rowBytes);
  const zero = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (rowBytes + 1)];
    const line = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    const cur = out.subarray(y * rowBytes, (y + 1) * rowBytes);
    const prev = y > 0 ? out.subarray((y - 1) * rowBytes, y * rowBytes) : zero;
    if (type === 0) cur.set(line);
    else if (type === 1) {
      for (let i = 0; i < rowBytes; i++) cur[i] = (line[i] + (i >= bpp ? cur[i - bpp] : 0)) & 0xff;
    } else if (type === 2) {
      for (let i = 0; i < rowBytes; i++) cur[i] = (line[i] + prev[i]) & 0xff;
    } else if (type === 3) {
      for (let i = 0; i < rowBytes; i++) cur[i] = (line[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
    } else if (type === 4) {
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? cur[i - bpp] : 0;
        const b = prev[i];
        const c = i >= bpp ? prev[i - bpp] : 0;
        // |b − c|, |a − c|, |a + b − 2c| without Math.abs: under jest's vm context Math calls are ~30× slower.
        const pa = b > c ? b - c : c - b;
        const pb = a > c ? a - c : c - a;
        const pc = a + b > 2 * c ? a + b - 2 * c : 2 * c - a - b;
        cur[i] = (line[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
      }
    } else throw new Error(`${what}: unknown filter type ${type} in row ${y}`);
  }
  return out;
}

interface Decoded {
  width: number;
  height: number;
  channels: number;
  depth: number;
  /** Unpacked samples, one per array element (16-bit kept whole). */
  samples: Uint8Array | Uint16Array;
  palette?: number[][];
}

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Adam7 passes: first column and row, column and row steps. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** A PNG decoder on Node's native zlib (fast-png's decoder was about 2× slower in Node, far slower under jest,
 *  and mis-decodes interlaced images below 8 bits). */
function decodePng(bytes: Uint8Array, what: string): Decoded {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.length < 8 || PNG_SIGNATURE.some((v, i) => view[i] !== v)) throw new Error('no PNG signature');
  let width = 0;
  let height = 0;
  let depth = 0;
  let colourType = -1;
  let interlace = 0;
  let palette: number[][] | undefined;
  const idat: Buffer[] = [];
  let offset = 8;
  let ended = false;
  while (offset + 8 <= view.length && !ended) {
    const length = view.readUInt32BE(offset);
    const type = view.toString('latin1', offset + 4, offset + 8);
    const data = view.subarray(offset + 8, offset + 8 + length);
    if (data.length !== length) throw new Error(`truncated ${type} chunk`);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      colourType = data[9];
      interlace = data[12];
    } else if (type === 'PLTE') {
      palette = [];
      for (let i = 0; i + 2 < length; i += 3) palette.push([data[i], data[i + 1], data[i + 2]]);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') ended = true;
    offset += 12 + length;
  }
  const channels = CHANNELS_OF_COLOUR_TYPE[colourType];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth) || width === 0 || height === 0) throw new Error('bad or missing IHDR');
  if (idat.length === 0) throw new Error('no image data (IDAT)');
  const inflated = inflateSync(Buffer.concat(idat));
  const bpp = Math.max(1, (channels * depth) >> 3);
  let used = 0;
  /** The next w×h block of scanlines, unfiltered and unpacked to one sample per element. */
  const nextRows = (w: number, h: number): Uint8Array | Uint16Array => {
    const rowBytes = Math.ceil((w * channels * depth) / 8);
    const need = h * (rowBytes + 1);
    if (inflated.length < used + need) throw new Error(`image data too short: ${inflated.length} bytes for ${width}x${height}`);
    const bytes = unfilter(inflated.subarray(used, used + need), h, rowBytes, bpp, what);
    used += need;
    if (depth === 8) return bytes;
    if (depth < 8) return unpackBits(bytes, w, h, channels, depth);
    const wide = new Uint16Array(w * h * channels);
    for (let i = 0; i < wide.length; i++) wide[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
    return wide;
  };
  let samples: Uint8Array | Uint16Array;
  if (interlace === 0) samples = nextRows(width, height);
  else {
    samples = depth === 16 ? new Uint16Array(width * height * channels) : new Uint8Array(width * height * channels);
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w <= 0 || h <= 0) continue;
      const pass = nextRows(w, h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let c = 0; c < channels; c++) samples[((y0 + y * dy) * width + x0 + x * dx) * channels + c] = pass[(y * w + x) * channels + c];
        }
      }
    }
  }
  return { width, height, channels, depth, samples, palette: colourType === 3 ? palette : undefined };
}

/** Reads a PNG as stored: palette indices stay indices. Errors name the file. Intensities are 8-bit
 *  (low depths scaled up, 16-bit reduced to the high byte) unless `values`: then samples are kept as
 *  numbers (label ids), and a 16-bit value above 255 is an error. */
export function readPng(path: string, opts: { values?: boolean } = {}): RawImage {
  return decodePngBytes(readBytes(path), path, opts);
}

/** readPng on bytes already read from `path` (named in errors). */
export function decodePngBytes(bytes: Uint8Array, path: string, opts: { values?: boolean } = {}): RawImage {
  let png: Decoded;
  try {
    png = decodePng(bytes, path);
  } catch (e) {
    throw new DataError(`corrupt PNG ${path}: ${(e as Error).message}`);
  }
  const { width, height, channels, depth } = png;
  let data: Uint8Array;
  if (depth === 16) {
    data = new Uint8Array(png.samples.length);
    for (let i = 0; i < data.length; i++) {
      const v = png.samples[i];
      if (opts.values && v > 255) throw new DataError(`label PNG ${path} has 16-bit value ${v} at sample ${i}: ids must fit in 0-255`);
      data[i] = opts.values ? v : v >> 8;
    }
  } else {
    data = png.samples as Uint8Array;
    // Low-depth grey means intensity: scale it to 8 bits. Palette indices and label values stay as they are.
    if (depth < 8 && !png.palette && !opts.values) {
      const k = 255 / ((1 << depth) - 1);
      for (let i = 0; i < data.length; i++) data[i] = Math.round(data[i] * k);
    }
  }
  return { width, height, channels, data, palette: png.palette };
}

/** Reads any PNG as RGB, HWC uint8 (palette → colours, grey → replicated, alpha dropped). */
export function readRgb(path: string): RawImage {
  return toRgb(readPng(path));
}

/** A decoded PNG as RGB (palette → colours, grey → replicated, alpha dropped). */
export function toRgb(img: RawImage): RawImage {
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
  const img = readPng(path, { values: true });
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
  if (got < 24 || PNG_SIGNATURE.some((b, i) => head[i] !== b) || head.toString('latin1', 12, 16) !== 'IHDR') {
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
