// The one place that opens the GPU (Dawn in Node, navigator.gpu in a browser: see platform.ts). It
// picks the adapter and turns WebGPU's asynchronous errors into thrown errors that name the kernel
// that caused them.
import { platform } from './platform.js';
import { BufferPool } from './pool.js';
import { Encoder, type BufferBinding } from './encoder.js';
import { KernelCache, type KernelSpec } from './kernel.js';
import { GpuError, type CheckedDevice } from './errors.js';

export interface GpuOptions {
  /** Dawn backend: vulkan, metal, d3d12, null, ... (env CSG_WEBGPU_BACKEND). */
  backend?: string;
  /** Adapter name as Dawn lists it (env CSG_WEBGPU_ADAPTER). */
  adapter?: string;
  /** Print the adapter line (env CSG_WEBGPU_QUIET=1 silences it). */
  verbose?: boolean;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  features: string[];
  /** Subgroup size when the adapter has exactly one (8 on lavapipe), else 0. */
  subgroupSize: number;
  /** A software (CPU) adapter such as lavapipe. */
  isFallback: boolean;
}

let current: Promise<Gpu> | null = null;

export class Gpu implements CheckedDevice {
  readonly pool: BufferPool;
  readonly encoder: Encoder;
  readonly kernels: KernelCache;
  lost: string | null = null;
  private pendingErrors: Promise<string | null>[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
  ) {
    this.pool = new BufferPool(device);
    this.encoder = new Encoder(this);
    this.kernels = new KernelCache(this);
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lost = `GPU device lost (${info.reason}): ${info.message}`;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(Promise.resolve(`uncaptured GPU error: ${err.message}`));
    });
  }

  get hasSubgroups(): boolean {
    return this.device.features.has('subgroups');
  }

  /** Runs `make` inside validation and out-of-memory error scopes; errors surface at the next check(). */
  guarded<T>(what: string, make: () => T): T {
    this.openScopes();
    const result = make();
    this.closeScopes(() => what);
    return result;
  }

  openScopes(): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  closeScopes(what: () => string): void {
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingErrors.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        if (o) return `${what()}: out of GPU memory: ${o.message}`;
        if (v) return `${what()}: ${v.message}`;
        return null;
      }),
    );
  }

  /** Throws the first error recorded since the last check, or a lost-device error. */
  async check(): Promise<void> {
    const errors = this.pendingErrors;
    this.pendingErrors = [];
    const messages = (await Promise.all(errors)).filter((m): m is string => m !== null);
    if (this.lost) throw new GpuError(this.lost);
    if (messages.length > 0) throw new GpuError(messages.join('\n'));
  }

  /** Records one dispatch of a kernel; it runs at the next flush. */
  run(
    spec: KernelSpec,
    buffers: Record<string, BufferBinding>,
    params: Record<string, number | readonly number[]>,
    workgroups: readonly [number, number?, number?],
  ): void {
    this.encoder.dispatch(this.kernels.get(spec), buffers, params, workgroups);
  }

  assertAlive(): void {
    if (this.lost) throw new GpuError(this.lost);
  }

  destroy(): void {
    this.encoder.discard();
    this.pool.destroyAll();
    this.device.destroy();
  }
}

function optionsFromEnv(): GpuOptions {
  return {
    backend: platform.env('CSG_WEBGPU_BACKEND') || undefined,
    adapter: platform.env('CSG_WEBGPU_ADAPTER') || undefined,
    verbose: platform.env('CSG_WEBGPU_QUIET') !== '1',
  };
}

async function open(options: GpuOptions): Promise<Gpu> {
  const flags: string[] = [];
  if (options.backend) flags.push(`backend=${options.backend}`);
  if (options.adapter) flags.push(`adapter=${options.adapter}`);
  let entry: GPU;
  try {
    entry = platform.gpu(flags);
  } catch (e) {
    throw new GpuError((e as Error).message);
  }
  const adapter = await entry.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GpuError(`WebGPU found no adapter: ${platform.noAdapterHelp}`);
  const wanted: GPUFeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  const description: AdapterDescription = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    backend: options.backend ?? 'default',
    features: [...device.features].sort(),
    subgroupSize: info.subgroupMinSize === info.subgroupMaxSize ? (info.subgroupMinSize ?? 0) : 0,
    isFallback: info.isFallbackAdapter ?? false,
  };
  platform.adapterOpened(description.isFallback);
  if (options.verbose) platform.log(`[gpu] adapter: ${adapterName(description)} (backend ${description.backend}); features: ${description.features.join(', ')}`);
  return new Gpu(device, description);
}

/** The process-wide GPU, opened on first use. */
export function getGpu(options: GpuOptions = {}): Promise<Gpu> {
  current ??= open({ ...optionsFromEnv(), ...options });
  return current;
}

/** Synchronous access once getGpu() has resolved (ops need it to encode without awaiting). */
let resolved: Gpu | null = null;
export async function initGpu(options: GpuOptions = {}): Promise<Gpu> {
  resolved = await getGpu(options);
  return resolved;
}
export function gpu(): Gpu {
  if (!resolved) throw new GpuError('GPU not initialised: await initGpu() first');
  return resolved;
}

/**
 * Runs fn over [first, first + count) runs of `units` units of `unitBytes` each, every run small enough
 * for one storage binding (one run but for buffers past the limit: lavapipe binds 128 MiB).
 */
export function forEachBindableChunk(units: number, unitBytes: number, fn: (first: number, count: number) => void): void {
  const perChunk = Math.max(1, Math.floor(gpu().device.limits.maxStorageBufferBindingSize / unitBytes));
  for (let first = 0; first < units; first += perChunk) fn(first, Math.min(perChunk, units - first));
}

/** The adapter as a person reads it: vendor / architecture / device / description. */
export function adapterName(a: AdapterDescription): string {
  return [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
}

/** Destroys the device and drops the instance so Node can exit. */
export function closeGpu(): void {
  resolved?.destroy();
  resolved = null;
  current = null;
  platform.release();
}
