// The engine's one error type, and what the encoder and the kernel cache need of the device to raise
// it. In a module of their own so that encoder.ts and kernel.ts import nothing from device.ts, which
// builds them (no import cycle).

/** A GPU failure: WGSL compile or validation errors, out of memory, device loss, a bad launch. */
export class GpuError extends Error {
  override name = 'GpuError';
}

/** The device with its error checks (device.ts's Gpu): what encoder.ts and kernel.ts use. */
export interface CheckedDevice {
  readonly device: GPUDevice;
  /** Runs `make` inside validation and out-of-memory error scopes; errors surface at the next check(). */
  guarded<T>(what: string, make: () => T): T;
  /** Opens validation and out-of-memory error scopes that stay open across calls until closeScopes(). */
  openScopes(): void;
  /** Closes the scopes openScopes() opened; `what` names the work in an error (called only on one). */
  closeScopes(what: () => string): void;
  /** Throws GpuError if the device is lost. */
  assertAlive(): void;
  /** Throws the errors collected so far as one GpuError. */
  check(): Promise<void>;
}
