// The Node host of the platform seam (platform.ts): Dawn through the `webgpu` package, WGSL read from
// shaders/, autotune choices in .cache/autotune/<adapter-id>.json (env CSG_AUTOTUNE_DIR moves it),
// settings from process.env.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, throttleDawnPolling } from './dawn.js';
import type { Platform } from './platform-api.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * One Dawn instance per set of flags, kept for the life of the process: an instance must outlive every
 * device made from it, and one dropped by closeGpu was once collected under a later device and took the
 * process down in native code (a pthread mutex assertion). A process that opens the GPU again
 * (tests, a long-lived server) gets the same instance back.
 */
const dawnInstances = new Map<string, GPU>();
/** The instance of the open device, for peers that want the same Dawn (dawnGpu). */
let dawnInstance: GPU | null = null;

const tuningPath = (adapterId: string) => join(process.env.CSG_AUTOTUNE_DIR ?? join(ROOT, '.cache', 'autotune'), `${adapterId}.json`);

export const hostPlatform: Platform = {
  name: 'node',
  gpu(flags) {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const key = flags.join('\n');
    let instance = dawnInstances.get(key);
    if (!instance) {
      instance = create(flags);
      dawnInstances.set(key, instance);
    }
    dawnInstance = instance;
    return instance;
  },
  release() {
    dawnInstance = null; // the instance itself stays in dawnInstances
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
