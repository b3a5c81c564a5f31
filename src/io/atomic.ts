// Atomic file writes: a temporary file in the same directory, fsync, rename over the target, fsync
// of the directory. A crash leaves either the old file or the new one, never a torn one.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { faultPoint } from './fault-point.js';

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

export function fsyncDir(dir: string): void {
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** Writes the chunks (or a string, as UTF-8) to `path` atomically. */
export function writeFileAtomic(path: string, content: string | readonly Uint8Array[]): void {
  const chunks = typeof content === 'string' ? [Buffer.from(content, 'utf8')] : content;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  let fd = openSync(tmp, 'wx');
  try {
    chunks.forEach((c, i) => {
      if (i === Math.ceil(chunks.length / 2)) faultPoint('atomic-write'); // half of the file written
      writeAll(fd, c);
    });
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}
