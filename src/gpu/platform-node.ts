// The Node host of the platform seam (platform.ts): Dawn through the `webgpu` package, WGSL read from
// shaders/, autotune choices in .cache/autotune/<adapter-id>.json (env CSG_AUTOTUNE_DIR moves it),
// settings from process.env.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, throttleDawnPolling } from './dawn.js';
import type { Platform } from './platform-api.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Kept at module scope: the instance must outlive every device made from it (if it is collected, the next dispatch crashes). */
let dawnInstance: GPU | null = null;

const tuningPath = (adapterId: string) => join(process.env.CSG_AUTOTUNE_DIR ?? join(ROOT, '.cache', 'autotune'), `${adapterId}.json`);

export const hostPlatform: Platform = {
  name: 'node',
  gpu(flags) {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    dawnInstance ??= create(flags);
    return dawnInstance;
  },
  release() {
    dawnInstance = null;
  },
  noAdapterHelp:
    'Dawn needs a Vulkan driver (Metal on macOS, D3D12 on Windows); without a GPU install Mesa lavapipe >= 24 ' +
    '(`npm run setup` does this on Debian/Ubuntu as root).',
  shaderSource(path) {
    try {
      return readFileSync(join(ROOT, 'shaders', path), 'utf8');
    } catch {
      return null;
    }
  },
  loadTuning(adapterId) {
    try {
      return JSON.parse(readFileSync(tuningPath(adapterId), 'utf8')) as Record<string, string>;
    } catch {
      return null; // no cache yet (or unreadable): tune again
    }
  },
  saveTuning(adapterId, choices) {
    const path = tuningPath(adapterId);
    mkdirSync(dirname(path), { recursive: true });
    // Written aside and renamed, so that a process reading the cache meanwhile never sees half a file.
    const partial = `${path}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify(choices, null, 1) + '\n');
    renameSync(partial, path);
  },
  env: (name) => process.env[name],
  log: (line) => process.stderr.write(`${line}\n`),
  adapterOpened(isFallback) {
    if (isFallback) throttleDawnPolling();
  },
};

/** The Dawn instance the engine uses (for peers such as tfjs-webgpu that want the same Dawn). */
export function dawnGpu(): GPU {
  if (!dawnInstance) throw new Error('GPU not initialised: await initGpu() first');
  return dawnInstance;
}
