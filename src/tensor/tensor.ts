// A tensor is a GPU buffer with a shape and a dtype. Reshaped views share the buffer through a
// reference-counted storage, so dispose() frees the memory only when the last view goes. A tensor may
// also be a slice of a bigger buffer (an offset view, see slice() and moveInto(): the parameter arenas
// of src/tensor/arena.ts); kernels bind it through `binding`, which carries the offset.
// Just over 400 lines on purpose: the op declarations (OpDef, BackwardReads, OpRecord) and the scopes
// live beside Tensor, which refers to them, so that no import cycle appears.
import { gpu, GpuError } from '../gpu/index.js';

export type DType = 'f32' | 'i32' | 'u32';
export type Shape = readonly number[];
export type TypedArray = Float32Array | Int32Array | Uint32Array;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** x rounded up to a multiple of m (padded sizes of packed operands and tiles). */
export function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function checkShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TensorError(`invalid shape ${shapeStr(shape)}: dimensions must be non-negative integers`);
  }
}

export class TensorError extends Error {
  override name = 'TensorError';
}

/**
 * Byte alignment of an offset view: storage and uniform binding offsets must be multiples of the
 * device's minimum offset alignment (16 on lavapipe, 256 on many GPUs; 256 is WebGPU's maximum).
 */
export const VIEW_ALIGN = 256;

/** Bytes a slice of `size` elements binds: its range rounded up to VIEW_ALIGN (whole vec4s for kernels). */
function sliceBytes(size: number): number {
  return Math.ceil(Math.max(size, 1) / (VIEW_ALIGN / 4)) * VIEW_ALIGN;
}

/** Source of content versions: every write to any storage takes the next number. */
let versionClock = 0;

class Storage {
  refs = 1;
  /** Changes whenever the contents may have changed (see Tensor.markWritten). */
  version = ++versionClock;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
  release(): void {
    if (--this.refs === 0) gpu().pool.release(this.buffer);
  }
}

// Scopes: every tensor made inside scope() is disposed at its end unless returned or kept.
// An op as registry.ts registers it and the tape records it (declared here, beside Tensor, which
// refers to them: no import cycle).

export interface BackwardArgs<A> {
  grad: Tensor;
  inputs: readonly Tensor[];
  out: Tensor;
  saved: readonly Tensor[];
  attrs: A;
}

/**
 * The forward's tensors whose data a backward rule reads: inputs by position (an absent optional
 * input, e.g. a missing bias, is skipped) and the output. Shapes and requiresGrad are always there:
 * what is not listed may have its memory freed before the backward runs (Tensor.releaseData).
 */
export interface BackwardReads {
  inputs: readonly number[];
  out: boolean;
}

/** An op with a backward declares beside the rule what it reads (a function of attrs where that varies). */
export type OpDef<A> = {
  name: string;
  /** Runs the kernels. `saved` are tensors the op made for its backward; they are freed if unused. */
  forward(inputs: readonly Tensor[], attrs: A): { out: Tensor; saved?: Tensor[] };
} & (
  | { backward?: undefined; reads?: undefined }
  /** backward: one gradient per input (null where the input takes none), run with recording off. */
  | { backward(args: BackwardArgs<A>): (Tensor | null)[]; reads: BackwardReads | ((attrs: A) => BackwardReads) }
);

export interface OpRecord {
  op: OpDef<any>;
  inputs: readonly Tensor[];
  attrs: unknown;
  saved: Tensor[];
  out: Tensor;
}

const scopeStack: Set<Tensor>[] = [];

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The op that made this tensor, while it is on the tape. */
  gradFn: OpRecord | null = null;
  /** Optional name (parameters carry their state_dict name). */
  name = '';
  /** Records on the tape whose backward reads this tensor's data (BackwardReads) and has not run yet. */
  backwardReaders = 0;
  /** Free the memory once the last of backwardReaders has run (releaseIntermediate on a tensor still read). */
  releaseAfterBackward = false;
  private storage: Storage | null;
  /** Set by releaseData(): the memory went while the tensor stayed a node of the tape. */
  private dataReleased = false;
  /** Where the tensor starts in its storage's buffer, in bytes. */
  private byteOffset: number;
  /** Whether the tensor is a slice of a bigger buffer (then it binds only its own range). */
  private sliced: boolean;
  /** Tensors made from this one by derived(), with the version they were made from. */
  private derivedCache: Map<string, { versions: string; tensor: Tensor }> | null = null;

  private constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    storage: Storage,
    byteOffset = 0,
    sliced = false,
  ) {
    this.size = sizeOf(shape);
    this.storage = storage;
    this.byteOffset = byteOffset;
    this.sliced = sliced;
    scopeStack[scopeStack.length - 1]?.add(this);
  }

  /** Uninitialised tensor from the buffer pool. */
  static empty(shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    const bytes = sizeOf(shape) * 4;
    return new Tensor([...shape], dtype, new Storage(gpu().pool.acquire(bytes), bytes));
  }

  static from(data: ArrayLike<number>, shape: Shape, dtype: DType = 'f32'): Tensor {
    checkShape(shape);
    if (data.length !== sizeOf(shape)) {
      throw new TensorError(`Tensor.from: ${data.length} values do not fill shape ${shapeStr(shape)} (${sizeOf(shape)} elements)`);
    }
    const t = Tensor.empty(shape, dtype);
    const arr = dtype === 'f32' ? Float32Array.from(data) : dtype === 'i32' ? Int32Array.from(data) : Uint32Array.from(data);
    if (arr.length > 0) gpu().encoder.write(t.live().buffer, arr);
    return t;
  }

  static scalar(value: number, dtype: DType = 'f32'): Tensor {
    return Tensor.from([value], [], dtype);
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  private live(): Storage {
    if (!this.storage) {
      const what = `tensor #${this.id}${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)}`;
      if (this.dataReleased) throw new TensorError(`${what}: its data was read after releaseData() freed it (releaseIntermediate: past its last use, no backward left to read it)`);
      throw new TensorError(`${what} used after dispose`);
    }
    return this.storage;
  }

  /**
   * What a kernel binds: the whole buffer for a tensor that owns one (kernels may read its pool
   * padding as whole vec4s), the tensor's own range (rounded up to VIEW_ALIGN) for a slice.
   */
  get binding(): GPUBufferBinding {
    const { buffer } = this.live();
    return this.sliced ? { buffer, offset: this.byteOffset, size: sliceBytes(this.size) } : { buffer };
  }

  /** `bytes` of the tensor's memory from `byteOffset` on, e.g. one uniform chunk of a packed operand. */
  bindRange(byteOffset: number, bytes: number): GPUBufferBinding {
    const { buffer } = this.live();
    const offset = this.byteOffset + byteOffset;
    if (offset + bytes > buffer.size) throw new TensorError(`${this}: range of ${bytes} bytes at ${byteOffset} runs past its buffer`);
    return { buffer, offset, size: bytes };
  }

  get bytes(): number {
    return this.size * 4;
  }

  /**
   * The version of the tensor's contents: it moves on every write through write(), copyFrom(),
   * moveInto() and markWritten(), for this tensor and every view sharing its memory.
   */
  get version(): number {
    return this.live().version;
  }

  /**
   * Records that a kernel wrote this tensor's memory in place (parameter updates, running
   * statistics, the key queue): what derived() made from the old contents is made again.
   */
  markWritten(): void {
    this.live().version = ++versionClock;
  }

  /**
   * A tensor computed by `make` from this one (e.g. a weight re-laid out for a kernel) and from
   * `alsoFrom`, kept under `key` and made again only when one of their contents has changed since
   * (a version moved). It belongs to this tensor: callers must not dispose it; it goes with it.
   */
  derived(key: string, make: () => Tensor, alsoFrom: readonly Tensor[] = []): Tensor {
    const versions = [this, ...alsoFrom].map((t) => t.version).join(' ');
    this.derivedCache ??= new Map();
    const cached = this.derivedCache.get(key);
    if (cached && cached.versions === versions) return cached.tensor;
    cached?.tensor.dispose();
    const tensor = make().keep();
    this.derivedCache.set(key, { versions, tensor });
    return tensor;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A view with another shape over the same storage (no copy, no tape entry; use ops.reshape for that). */
  view(shape: Shape): Tensor {
    checkShape(shape);
    if (sizeOf(shape) !== this.size) throw new TensorError(`cannot view ${shapeStr(this.shape)} as ${shapeStr(shape)}: sizes differ`);
    const s = this.live();
    s.refs++;
    return new Tensor([...shape], this.dtype, s, this.byteOffset, this.sliced);
  }

  /**
   * An offset view: `shape` starting `elementOffset` elements into this tensor's memory, sharing its
   * storage. The start must fall on VIEW_ALIGN bytes and the view (rounded up to VIEW_ALIGN) must fit.
   */
  slice(elementOffset: number, shape: Shape): Tensor {
    checkShape(shape);
    const s = this.live();
    const offset = this.byteOffset + elementOffset * 4;
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || offset % VIEW_ALIGN !== 0) {
      throw new TensorError(`${this}: a slice at element ${elementOffset} (byte ${offset}) is not aligned to ${VIEW_ALIGN} bytes`);
    }
    if (offset + sliceBytes(sizeOf(shape)) > s.buffer.size) {
      throw new TensorError(`${this}: a slice ${shapeStr(shape)} at element ${elementOffset} runs past the ${s.buffer.size}-byte buffer`);
    }
    s.refs++;
    return new Tensor([...shape], this.dtype, s, offset, true);
  }

  /**
   * Moves this tensor's contents into `target`'s memory at `elementOffset` and makes this very
   * object a slice there (its identity, name and gradient state stay; its old memory is freed).
   * Views made of it before keep the old memory.
   */
  moveInto(target: Tensor, elementOffset: number): void {
    const slot = target.slice(elementOffset, this.shape).keep();
    slot.copyFrom(this);
    this.live().release();
    this.storage = slot.storage;
    this.byteOffset = slot.byteOffset;
    this.sliced = true;
    slot.storage = null;
    this.markWritten();
  }

  /** Copies `src` (same size) into this tensor on the GPU. */
  copyFrom(src: Tensor): void {
    if (src.size !== this.size) throw new TensorError(`copyFrom: ${src} into ${this}: sizes differ`);
    if (this.size > 0) gpu().encoder.copy(src.live().buffer, src.byteOffset, this.live().buffer, this.byteOffset, this.bytes);
    this.markWritten();
  }

  /** Overwrites the contents from the CPU. */
  write(data: ArrayLike<number>): void {
    if (data.length !== this.size) throw new TensorError(`write: ${data.length} values for a tensor of ${this.size}`);
    const arr = this.dtype === 'f32' ? Float32Array.from(data) : this.dtype === 'i32' ? Int32Array.from(data) : Uint32Array.from(data);
    gpu().encoder.write(this.live().buffer, arr, this.byteOffset);
    this.markWritten();
  }

  async read(): Promise<TypedArray> {
    const raw = await gpu().encoder.read(this.live().buffer, this.bytes, this.byteOffset);
    return this.dtype === 'f32' ? new Float32Array(raw) : this.dtype === 'i32' ? new Int32Array(raw) : new Uint32Array(raw);
  }

  async readFloat32(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new TensorError(`readFloat32 on a ${this.dtype} tensor`);
    return (await this.read()) as Float32Array;
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new TensorError(`item() needs a one-element tensor, got ${shapeStr(this.shape)}`);
    return (await this.read())[0]!;
  }

  dispose(): void {
    if (!this.storage && !this.dataReleased) return;
    this.freeMemory();
    this.dataReleased = false;
    this.gradFn = null;
    for (const s of scopeStack) s.delete(this);
  }

  /**
   * Frees this tensor's memory (its reference to the storage: views keep theirs) but keeps it a node
   * of the tape (shape, requiresGrad, gradFn): a backward that reads none of its data runs through
   * it; a read of the data throws, naming it. dispose() (the scope's) finishes it off.
   */
  releaseData(): void {
    if (!this.storage) return;
    this.freeMemory();
    this.dataReleased = true;
  }

  private freeMemory(): void {
    this.derivedCache?.forEach((d) => d.tensor.dispose());
    this.derivedCache = null;
    this.storage?.release();
    this.storage = null;
  }

  /** Takes the tensor out of every enclosing scope, so it outlives them. */
  keep(): this {
    for (const s of scopeStack) s.delete(this);
    return this;
  }

  toString(): string {
    return `Tensor#${this.id}${this.name ? `(${this.name})` : ''} ${this.dtype}${shapeStr(this.shape)}`;
  }
}

function collect(result: unknown, into: Set<Tensor>): void {
  if (result instanceof Tensor) into.add(result);
  else if (Array.isArray(result)) for (const r of result) collect(r, into);
  else if (result && typeof result === 'object' && !(result instanceof Promise)) for (const r of Object.values(result)) collect(r, into);
}

function closeScope(made: Set<Tensor>, result: unknown): void {
  const keep = new Set<Tensor>();
  collect(result, keep);
  scopeStack.pop();
  const parent = scopeStack[scopeStack.length - 1];
  for (const t of made) {
    if (keep.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/**
 * Runs fn; disposes every tensor it made except those it returns (found in arrays and plain objects
 * too), which move to the outer scope.
 */
export function scope<T>(fn: () => T): T {
  const made = new Set<Tensor>();
  scopeStack.push(made);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(made, undefined);
    throw e;
  }
  closeScope(made, result);
  return result;
}

/** scope() for async work: no other scope may open and close concurrently. */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const made = new Set<Tensor>();
  scopeStack.push(made);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    closeScope(made, undefined);
    throw e;
  }
  closeScope(made, result);
  return result;
}

export function assertDtype(t: Tensor, dtype: DType, where: string): void {
  if (t.dtype !== dtype) throw new TensorError(`${where}: expected a ${dtype} tensor, got ${t.dtype} ${shapeStr(t.shape)}`);
}

export function assertShape(t: Tensor, shape: Shape, where: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new TensorError(`${where}: expected shape ${shapeStr(shape)}, got ${shapeStr(t.shape)}`);
  }
}

export { GpuError };
