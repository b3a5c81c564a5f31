// The platform seam: everything the engine takes from its host goes through `platform`, so that
// src/gpu and the layers above it import no `node:` module. In Node the host is platform-node.ts
// (Dawn, the shaders/ folder, .cache/autotune, process.env); the web build (src/cli/web-build.ts) swaps
// that one module for platform-browser.ts (navigator.gpu, the shaders bundled into the page,
// localStorage, no environment).
import { hostPlatform } from './platform-node.js';
import type { Platform } from './platform-api.js';

export type { Platform };

export const platform: Platform = hostPlatform;
