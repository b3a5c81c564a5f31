// Real photographs for the real domain of the embedded data set. They come from Debian's
// python3-skimage package (scikit-image's sample images: astronaut, coffee, chelsea, brick, grass, …,
// BSD/CC0/public domain): a fresh Debian machine can always get it with `apt-get download`, which needs
// no install and no root, and `dpkg-deb -x`; no npm package ships a comparable set of real photos.
// Order of search: an explicit folder ($CSG_PHOTO_DIR or the `photoDir` option: any PNGs in it), an
// installed python3-skimage, our cache, then the download into the cache.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DataError, readRgb, type RawImage } from './png.js';

/** The colour and grey PNG photographs among skimage's data files (no drawings, no JPEGs: we decode PNG only). */
export const SKIMAGE_PHOTOS = [
  'astronaut', 'brick', 'camera', 'chelsea', 'coffee', 'coins', 'grass', 'gravel', 'ihc', 'moon', 'motorcycle_left', 'motorcycle_right',
];

const SKIMAGE_INSTALLED = '/usr/lib/python3/dist-packages/skimage/data';

export interface Photo extends RawImage {
  name: string;
}

/** Moves a finished folder into place; when another process got there first, keeps theirs. */
export function publishDir(staging: string, dest: string): void {
  try {
    rmSync(dest, { recursive: true, force: true });
    renameSync(staging, dest);
  } catch (e) {
    if (!existsSync(dest)) throw e;
    rmSync(staging, { recursive: true, force: true });
  }
}

const hasAll = (dir: string) => SKIMAGE_PHOTOS.every((n) => existsSync(join(dir, `${n}.png`)));

export function fetchSkimagePhotos(cacheRoot: string, dest: string): void {
  mkdirSync(cacheRoot, { recursive: true });
  const work = mkdtempSync(join(cacheRoot, 'skimage-download-'));
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: work, env: process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  try {
    process.stderr.write('[data] fetching real photographs: apt-get download python3-skimage (about 21 MB, once)\n');
    try {
      run('apt-get', ['download', 'python3-skimage']);
    } catch (first) {
      // A fresh machine may have empty package lists; refreshing them needs root.
      if (process.getuid?.() !== 0) throw first;
      run('apt-get', ['update', '-q']);
      run('apt-get', ['download', 'python3-skimage']);
    }
    const deb = readdirSync(work).find((f) => f.startsWith('python3-skimage') && f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download left no .deb file');
    run('dpkg-deb', ['-x', deb, 'x']);
    const data = join(work, 'x', SKIMAGE_INSTALLED);
    if (!hasAll(data)) throw new Error(`the package lacks some of ${SKIMAGE_PHOTOS.join(', ')}`);
    const staging = join(work, 'photos');
    mkdirSync(staging);
    for (const n of SKIMAGE_PHOTOS) copyFileSync(join(data, `${n}.png`), join(staging, `${n}.png`));
    publishDir(staging, dest);
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    const detail = (err.stderr?.toString().trim() || err.message).split('\n').slice(-3).join(' ');
    throw new DataError(
      `real photographs for the embedded digits data set are unavailable: fetching Debian's python3-skimage failed (${detail}). ` +
        'Install python3-skimage, or put PNG photographs in a folder and set CSG_PHOTO_DIR to it.',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The folder of real photographs (fetching skimage's once if needed) and the names in it, sorted. */
export function photoFolder(cacheRoot: string, photoDir?: string): { dir: string; names: string[] } {
  const explicit = photoDir ?? process.env.CSG_PHOTO_DIR;
  if (explicit) {
    if (!existsSync(explicit) || !statSync(explicit).isDirectory()) throw new DataError(`missing directory ${explicit} (expected PNG photographs)`);
    const names = readdirSync(explicit).filter((f) => f.toLowerCase().endsWith('.png')).sort().map((f) => f.slice(0, -4));
    if (names.length === 0) throw new DataError(`no PNG photographs in ${explicit}`);
    return { dir: explicit, names };
  }
  if (hasAll(SKIMAGE_INSTALLED)) return { dir: SKIMAGE_INSTALLED, names: SKIMAGE_PHOTOS };
  const cached = join(cacheRoot, 'photos-skimage');
  if (!hasAll(cached)) {
    rmSync(cached, { recursive: true, force: true });
    fetchSkimagePhotos(cacheRoot, cached);
  }
  return { dir: cached, names: SKIMAGE_PHOTOS };
}

const decoded = new Map<string, Photo[]>();

/** Reads the photographs of a folder (see photoFolder), once per process. */
export function readPhotos(dir: string, names: string[]): Photo[] {
  const key = `${dir}\n${names.join('\n')}`;
  let photos = decoded.get(key);
  if (!photos) {
    photos = names.map((name) => ({ name, ...readRgb(join(dir, `${name}.png`)) }));
    decoded.set(key, photos);
  }
  return photos;
}
