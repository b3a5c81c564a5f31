// The engine's one error type. In a module of its own so that device.ts, encoder.ts and kernel.ts can
// all throw it without importing each other's values (device.ts builds the encoder and kernel cache).

/** A GPU failure: WGSL compile or validation errors, out of memory, device loss, a bad launch. */
export class GpuError extends Error {
  override name = 'GpuError';
}
