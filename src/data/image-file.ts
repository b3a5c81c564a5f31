// One reader for the image files users bring (VisDA-17's renders are PNG, its real photographs JPEG):
// PNG through our decoder (png.ts), baseline and progressive JPEG through npm jpeg-js (pure JS, no
// native build, a port of pdf.js's decoder; pinned at 0.4.4, the version predict:seg uses). The
// format is told by the file's first bytes, not its name. Errors are DataErrors naming the file: a
// missing file, a corrupt PNG or JPEG, or bytes that are neither.
import { decode as decodeJpeg } from 'jpeg-js';
import { DataError, decodePngBytes, PNG_SIGNATURE, readBytes, toRgb, type RawImage } from './png.js';

const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isPng = (b: Uint8Array) => b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v);

/** File names this reader takes (by extension: predict:seg lists a folder's images with it). */
export const IMAGE_FILE_PATTERN = /\.(png|jpe?g)$/i;

/** Reads a PNG or JPEG file as RGB, HWC uint8 (grey replicated, alpha dropped, CMYK converted). */
export function readImageFile(path: string): RawImage {
  const bytes = readBytes(path);
  if (isPng(bytes)) return toRgb(decodePngBytes(bytes, path));
  if (!isJpeg(bytes)) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataError(`corrupt image ${path}: neither PNG nor JPEG (first bytes ${head || 'none: empty file'})`);
  }
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false });
  } catch (e) {
    throw new DataError(`corrupt JPEG ${path}: ${(e as Error).message}`);
  }
  if (img.width === 0 || img.height === 0 || img.data.length !== img.width * img.height * 3) {
    throw new DataError(`corrupt JPEG ${path}: decoded ${img.data.length} bytes for ${img.width}x${img.height} RGB`);
  }
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}
