export { GpuError } from './errors.js';
export { Gpu, getGpu, initGpu, gpu, closeGpu, forEachBindableChunk, adapterName, type GpuOptions, type AdapterDescription } from './device.js';
export { platform, type Platform } from './platform.js';
export { grid, type BufferBinding } from './encoder.js';
export { type Kernel, type KernelSpec, expandSource } from './kernel.js';
export { sizeClass, type PoolStats } from './pool.js';
export { chooseVariant, tunePending, pendingTuning, forcedVariant, adapterId, type Trial, type VariantChoice } from './autotune.js';
