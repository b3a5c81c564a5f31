import './platform.js'; // in Node, Dawn installs the WebGPU globals (GPUBufferUsage, …) used below
// Buffers are recycled by size class: a training step frees and re-creates the same shapes every
// iteration, so after the first step no GPU memory is allocated. Reuse inside one command buffer is
// safe because WebGPU orders dispatches that touch the same buffer.
// UNIFORM too: some kernels bind slices of a tensor as uniform data (see shaders/matmul.wgsl).
export const TENSOR_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Rounds up to 4 size classes per power of two (at most 19 % slack), 256 bytes at least: always whole vec4s. */
export function sizeClass(bytes: number): number {
  const n = Math.max(256, bytes);
  const octave = 2 ** Math.floor(Math.log2(n));
  const quarter = octave / 4;
  return Math.ceil(n / quarter) * quarter;
}

export interface PoolStats {
  bytesInUse: number;
  bytesPooled: number;
  peakBytesInUse: number;
  buffersCreated: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  readonly stats: PoolStats = { bytesInUse: 0, bytesPooled: 0, peakBytesInUse: 0, buffersCreated: 0 };

  constructor(private device: GPUDevice) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.bytesPooled -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: TENSOR_USAGE });
      this.stats.buffersCreated++;
    }
    this.stats.bytesInUse += size;
    this.stats.peakBytesInUse = Math.max(this.stats.peakBytesInUse, this.stats.bytesInUse);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.stats.bytesInUse -= size;
    this.stats.bytesPooled += size;
  }

  /** Starts a new peak measurement from what is in use now. */
  resetPeak(): void {
    this.stats.peakBytesInUse = this.stats.bytesInUse;
  }

  /** Gives pooled (unused) buffers back to the driver. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.bytesPooled = 0;
  }

  destroyAll(): void {
    this.trim();
  }
}
