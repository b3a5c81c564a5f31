// The browser host of the platform seam (platform.ts), swapped in for platform-node.ts by the web
// build: the page's navigator.gpu, the WGSL of shaders/ bundled into the page at build time (no
// fetch at run time), autotune choices in localStorage, no environment settings.
import shaders from 'virtual:shaders';
import type { Platform } from './platform-api.js';

const tuningKey = (adapterId: string) => `csg-webgpu/autotune/${adapterId}`;

export const hostPlatform: Platform = {
  name: 'browser',
  gpu() {
    const entry = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!entry) throw new Error('this browser has no WebGPU (navigator.gpu is missing): use Chrome/Edge 113+, or Firefox/Safari with WebGPU enabled');
    return entry;
  },
  release() {},
  noAdapterHelp: 'the browser offers WebGPU but no adapter: enable hardware acceleration, or start Chromium with --enable-unsafe-webgpu.',
  shaderSource: (path) => shaders[path] ?? null,
  loadTuning(adapterId) {
    try {
      const saved = globalThis.localStorage?.getItem(tuningKey(adapterId));
      return saved ? (JSON.parse(saved) as Record<string, string>) : null;
    } catch {
      return null; // storage blocked or corrupt: tune again
    }
  },
  saveTuning(adapterId, choices) {
    try {
      globalThis.localStorage?.setItem(tuningKey(adapterId), JSON.stringify(choices));
    } catch {
      // Storage blocked or full: the choices live for this page only.
    }
  },
  env: () => undefined,
  log: (line) => console.info(line),
  adapterOpened() {},
};
