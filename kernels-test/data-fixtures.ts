// Test helpers for the data loaders: an independent minimal PNG encoder (any colour type and bit
// depth, palettes with real indices, as GTA5 labels are stored), JPEG files (jpeg-js's encoder) and
// temporary folders.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { encode as encodeJpegRgba } from 'jpeg-js';
import { photoFolder } from '../src/data/photos.js';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7 passes: first column and row, column and row steps. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** Unfiltered scanlines (filter byte 0) of an image of unpacked samples. */
function scanlines(width: number, height: number, channels: number, depth: number, sample: (x: number, y: number, c: number) => number): Uint8Array {
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  const raw = new Uint8Array(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const row = y * (rowBytes + 1) + 1;
    for (let i = 0; i < width * channels; i++) {
      const v = sample(Math.floor(i / channels), y, i % channels);
      if (depth === 8) raw[row + i] = v;
      else if (depth === 16) {
        raw[row + 2 * i] = v >> 8;
        raw[row + 2 * i + 1] = v & 0xff;
      } else {
        const perByte = 8 / depth;
        raw[row + Math.floor(i / perByte)] |= v << (8 - depth * (1 + (i % perByte)));
      }
    }
  }
  return raw;
}

/** Encodes unpacked samples (HWC, one number per sample) as a PNG of the given colour type and depth,
 *  Adam7-interlaced when asked. */
export function encodePng(width: number, height: number, colourType: 0 | 2 | 3 | 4 | 6, depth: number, samples: ArrayLike<number>, palette?: number[][], interlaced = false): Buffer {
  const channels = CHANNELS[colourType];
  const at = (x: number, y: number, c: number) => samples[(y * width + x) * channels + c];
  let raw: Uint8Array;
  if (!interlaced) raw = scanlines(width, height, channels, depth, at);
  else {
    const passes = ADAM7.map(([x0, y0, dx, dy]) => {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      return w > 0 && h > 0 ? scanlines(w, h, channels, depth, (x, y, c) => at(x0 + x * dx, y0 + y * dy, c)) : new Uint8Array(0);
    });
    raw = Buffer.concat(passes);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colourType;
  ihdr[12] = interlaced ? 1 : 0;
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (palette) parts.push(chunk('PLTE', Uint8Array.from(palette.flat())));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `csg-${prefix}-`));
}

/** For tests that build the embedded data sets: real photographs from a cache kept between runs (fetched
 *  once, Debian's python3-skimage), and fresh data caches so each build really builds: `freshCache` makes
 *  one and points CSG_CACHE_DIR at it. The caches are removed and CSG_CACHE_DIR restored after the file. */
export function dataCacheFixture(): { photoDir: () => string; freshCache: (prefix: string) => string } {
  const saved = process.env.CSG_CACHE_DIR;
  const photoCache = saved ?? join(tmpdir(), 'csg-webgpu-test-cache');
  const roots: string[] = [];
  let photoDir = '';
  beforeAll(() => {
    photoDir = photoFolder(photoCache).dir;
  }, 300_000);
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
    if (saved === undefined) delete process.env.CSG_CACHE_DIR;
    else process.env.CSG_CACHE_DIR = saved;
  });
  return {
    photoDir: () => photoDir,
    freshCache: (prefix) => {
      const root = tempDir(prefix);
      roots.push(root);
      process.env.CSG_CACHE_DIR = root;
      return root;
    },
  };
}

export function writeFile(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

/** A deterministic RGB image whose pixels encode their position (r = x·16, g = y·16, b = seed). */
export function positionImage(width: number, height: number, seed = 0): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set([(x * 16) & 255, (y * 16) & 255, seed & 255], (y * width + x) * 3);
  return out;
}

/** A baseline JPEG of an HWC RGB image (jpeg-js's encoder: no chroma subsampling), `quality` 1–100. */
export function encodeJpeg(width: number, height: number, rgb: ArrayLike<number>, quality = 95): Buffer {
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) rgba.set([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], 255], 4 * p);
  return encodeJpegRgba({ width, height, data: rgba }, quality).data;
}
