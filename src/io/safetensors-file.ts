// safetensors files on disk (Node): the strict reader and the atomic writer over safetensors.ts's
// parser and layout.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { parseSafetensors, safetensorsLayout, SafetensorsError, type SafetensorsFile, type StateDict } from './safetensors.js';

export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new SafetensorsError(path, undefined, `cannot read: ${(e as Error).message}`);
  }
  return parseSafetensors(bytes, path);
}

/** Writes a safetensors file atomically (a crash leaves the old file or the new one). */
export function writeSafetensors(path: string, tensors: StateDict, metadata?: Record<string, string>): void {
  const { head, order } = safetensorsLayout(tensors, metadata, path);
  writeFileAtomic(path, [head, ...order.map((t) => t.data)]);
}
