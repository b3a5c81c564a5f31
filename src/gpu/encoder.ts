// Records dispatches into one command encoder until something must be read back (or the uniform
// staging area fills up), then submits them as one command buffer. Per-dispatch parameters go into a
// staging block uploaded with one writeBuffer just before the submit; queue order makes reusing the
// uniform buffer after a submit safe. One pair of error scopes spans a command buffer from its first
// command to its submit (a pair per dispatch cost more CPU than recording the dispatch); an error
// then names the kernels recorded in it, and Dawn's message names the object's label (the kernel).
import { GpuError, type CheckedDevice } from './errors.js';
import { packParams, type Kernel } from './kernel.js';

export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

const UNIFORM_BYTES = 1 << 20;
/** Timestamp pairs per submit while profiling. */
const PROFILE_SLOTS = 2048;
const UNIFORM_ALIGN = 256;
const MAX_WORKGROUPS = 65535;

export class Encoder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniform: GPUBuffer;
  private staging = new ArrayBuffer(UNIFORM_BYTES);
  private stagingView = new DataView(this.staging);
  private uniformUsed = 0;
  /** Kernel names recorded since the last submit, for error messages. */
  private recorded: string[] = [];
  dispatchCount = 0;
  submitCount = 0;
  /** Per-kernel GPU time while profiling (see startProfile). */
  private profile: Map<string, { count: number; ns: number }> | null = null;
  private profileQueries: { set: GPUQuerySet; names: string[] } | null = null;
  private profileReads: Promise<void>[] = [];

  constructor(private gpu: CheckedDevice) {
    this.uniform = gpu.device.createBuffer({ size: UNIFORM_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  get pending(): boolean {
    return this.encoder !== null;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.gpu.assertAlive();
    if (!this.encoder) {
      this.gpu.openScopes();
      this.encoder = this.gpu.device.createCommandEncoder();
    }
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  dispatch(
    kernel: Kernel,
    buffers: Record<string, BufferBinding>,
    params: Record<string, number | readonly number[]>,
    workgroups: readonly [number, number?, number?],
  ): void {
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > MAX_WORKGROUPS || y > MAX_WORKGROUPS || z > MAX_WORKGROUPS) {
      throw new GpuError(`kernel ${kernel.name}: dispatch [${x}, ${y}, ${z}] exceeds ${MAX_WORKGROUPS} workgroups per dimension`);
    }
    let uniformOffset = -1;
    if (kernel.params) {
      if (this.uniformUsed + kernel.params.size > UNIFORM_BYTES) this.flush();
      uniformOffset = this.uniformUsed;
      packParams(kernel, params, this.stagingView, uniformOffset);
      this.uniformUsed += Math.ceil(kernel.params.size / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    } else if (Object.keys(params).length) {
      throw new GpuError(`kernel ${kernel.name} takes no params`);
    }
    const entries: GPUBindGroupEntry[] = [];
    for (const [name, slot] of kernel.slots) {
      if (slot.isParams) {
        entries.push({ binding: slot.binding, resource: { buffer: this.uniform, offset: uniformOffset, size: kernel.params!.size } });
        continue;
      }
      const b = buffers[name];
      if (!b) throw new GpuError(`kernel ${kernel.name}: buffer '${name}' not bound`);
      entries.push({ binding: slot.binding, resource: 'buffer' in b ? b : { buffer: b } });
    }
    for (const name of Object.keys(buffers)) {
      if (!kernel.slots.has(name)) throw new GpuError(`kernel ${kernel.name}: it has no binding '${name}'`);
    }
    const pass = this.profile ? this.timedPass(kernel.name) : this.computePass();
    const group = this.gpu.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.name });
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
    this.recorded.push(kernel.name);
    this.dispatchCount++;
    if (this.profile) this.endPass();
  }

  /**
   * Times every dispatch from now on with timestamp queries (one compute pass each), until
   * stopProfile() returns the totals per kernel. Needs the adapter's 'timestamp-query' feature.
   */
  startProfile(): void {
    if (!this.gpu.device.features.has('timestamp-query')) throw new GpuError('profiling needs the timestamp-query feature, which this adapter lacks');
    this.flush();
    this.profile = new Map();
  }

  async stopProfile(): Promise<Map<string, { count: number; ns: number }>> {
    this.flush();
    await Promise.all(this.profileReads);
    const result = this.profile ?? new Map();
    this.profile = null;
    this.profileReads = [];
    return result;
  }

  private timedPass(name: string): GPUComputePassEncoder {
    this.endPass();
    if (this.profileQueries && this.profileQueries.names.length === PROFILE_SLOTS) this.flush();
    this.profileQueries ??= { set: this.gpu.device.createQuerySet({ type: 'timestamp', count: 2 * PROFILE_SLOTS }), names: [] };
    const q = this.profileQueries;
    const index = 2 * q.names.length;
    q.names.push(name);
    this.pass = this.commandEncoder().beginComputePass({ timestampWrites: { querySet: q.set, beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 } });
    return this.pass;
  }

  /** Resolves this submit's timestamps into a buffer read back after it runs. */
  private resolveProfile(): void {
    const q = this.profileQueries;
    if (!q || !this.encoder) return;
    this.profileQueries = null;
    const bytes = 16 * q.names.length;
    const resolved = this.gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const readback = this.gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.encoder.resolveQuerySet(q.set, 0, 2 * q.names.length, resolved, 0);
    this.encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
    const totals = this.profile!;
    this.profileReads.push(
      (async () => {
        await this.gpu.device.queue.onSubmittedWorkDone();
        await readback.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(readback.getMappedRange().slice(0));
        q.names.forEach((name, i) => {
          const entry = totals.get(name) ?? { count: 0, ns: 0 };
          entry.count++;
          entry.ns += Number(t[2 * i + 1]! - t[2 * i]!);
          totals.set(name, entry);
        });
        for (const b of [resolved, readback]) b.destroy();
        q.set.destroy();
      })(),
    );
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.resolveProfile();
    const names = this.recorded;
    if (this.uniformUsed > 0) this.gpu.device.queue.writeBuffer(this.uniform, 0, this.staging, 0, this.uniformUsed);
    this.gpu.device.queue.submit([this.encoder.finish()]);
    this.gpu.closeScopes(() => `a submit of ${names.length} dispatches (${summarise(names)})`);
    this.encoder = null;
    this.uniformUsed = 0;
    this.recorded = [];
    this.submitCount++;
  }

  /** Drops unsubmitted work (used when tearing down). */
  discard(): void {
    if (this.encoder) this.gpu.closeScopes(() => 'discarded work');
    this.pass = null;
    this.encoder = null;
    this.uniformUsed = 0;
    this.recorded = [];
  }

  /** Flushes and waits for the GPU to finish; throws errors recorded on the way. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.device.queue.onSubmittedWorkDone();
    await this.gpu.check();
  }

  /** Copies `bytes` from `src` to the CPU. Flushes pending work first. */
  async read(src: GPUBuffer, bytes: number, srcOffset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.gpu.device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      if (size > 0) this.copy(src, srcOffset, staging, 0, size);
      this.flush();
      await this.gpu.check();
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange(0, size).slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  /** Writes CPU data into a buffer; pending dispatches are submitted first so they see the old contents. */
  write(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.flush();
    const bytes = data.byteLength;
    const padded = Math.ceil(bytes / 4) * 4;
    if (padded === bytes) {
      this.gpu.device.queue.writeBuffer(dst, dstOffset, data.buffer, data.byteOffset, bytes);
    } else {
      const tmp = new Uint8Array(padded);
      tmp.set(new Uint8Array(data.buffer, data.byteOffset, bytes));
      this.gpu.device.queue.writeBuffer(dst, dstOffset, tmp);
    }
  }
}

/** Every kernel of a submit with its count, in recording order: an error must name the culprit among them. */
function summarise(names: string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${n}×${c}` : n)).join(', ');
}

/** Splits a 1-D count of workgroups into an [x, y] grid within the per-dimension limit. */
export function grid(workgroups: number): [number, number] {
  if (workgroups <= MAX_WORKGROUPS) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / MAX_WORKGROUPS);
  return [Math.ceil(workgroups / y), y];
}
