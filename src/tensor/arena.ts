// A parameter arena: a fixed list of f32 tensors packed into one flat buffer, so an optimiser can
// update all of them in one dispatch. Each tensor becomes a slice of the arena in place (the same
// object: modules, state_dict names and gradients keep working). Slots start on whole spans, so one
// workgroup of the update kernels (shaders/optim.wgsl) never covers two tensors.
// WebGPU checks read/write usage per buffer, not per range: no dispatch may write one slice of an
// arena while reading another. Kernels only read parameters; the update kernels write a whole arena.
import { Tensor, TensorError } from './tensor.js';

/** Elements per span: one workgroup of the update kernels (256 lanes × vec4). */
export const ARENA_SPAN = 1024;

const arenaOf = new WeakMap<Tensor, ParamArena>();

const spansOf = (t: Tensor): number => Math.ceil(Math.max(t.size, 1) / ARENA_SPAN);

export class ParamArena {
  /** Element offset of each tensor's slot. */
  readonly offsets: readonly number[];
  /** Elements in all, a whole number of spans. */
  readonly size: number;

  private constructor(readonly tensors: readonly Tensor[]) {
    const offsets: number[] = [];
    let size = 0;
    for (const t of tensors) {
      offsets.push(size);
      size += spansOf(t) * ARENA_SPAN;
    }
    this.offsets = offsets;
    this.size = size;
  }

  /**
   * The arena holding exactly `tensors`, in this order: the first call packs them (moving their
   * values), later calls with the same list return the same arena.
   */
  static of(tensors: readonly Tensor[]): ParamArena {
    if (tensors.length === 0) throw new TensorError('ParamArena: no tensors to pack');
    const existing = arenaOf.get(tensors[0]!);
    if (existing && existing.tensors.length === tensors.length && existing.tensors.every((t, i) => t === tensors[i])) return existing;
    const seen = new Set<Tensor>();
    for (const t of tensors) {
      if (arenaOf.has(t)) throw new TensorError(`ParamArena: ${t} is already packed with another list of tensors`);
      if (seen.has(t)) throw new TensorError(`ParamArena: ${t} is listed twice`);
      if (t.dtype !== 'f32') throw new TensorError(`ParamArena: ${t} is not f32`);
      seen.add(t);
    }
    const arena = new ParamArena(tensors);
    // The flat tensor's own reference goes at once: the slots keep the buffer alive, and it returns
    // to the pool when the last packed tensor is disposed.
    const flat = Tensor.empty([arena.size]).keep();
    tensors.forEach((t, i) => {
      t.moveInto(flat, arena.offsets[i]!);
      arenaOf.set(t, arena);
    });
    flat.dispose();
    return arena;
  }

  /** Number of spans (workgroups of the update kernels). */
  get spans(): number {
    return this.size / ARENA_SPAN;
  }

  /** The spans of tensor `index`'s slot: [first, end). */
  slotSpans(index: number): [number, number] {
    const first = this.offsets[index]! / ARENA_SPAN;
    return [first, first + spansOf(this.tensors[index]!)];
  }

  /** Records an in-place update of the arena: every member's version moves (they share its memory). */
  markWritten(): void {
    this.tensors.find((t) => !t.disposed)?.markWritten();
  }

  /** `count` elements of the arena from `first` on, for a kernel. */
  range(first: number, count: number): GPUBufferBinding {
    const member = this.tensors.find((t) => !t.disposed);
    if (!member) throw new TensorError('ParamArena: every tensor in it was disposed');
    if (first < 0 || first + count > this.size) throw new TensorError(`ParamArena: range [${first}, ${first + count}) outside its ${this.size} elements`);
    return { buffer: member.binding.buffer, offset: first * 4, size: count * 4 };
  }
}
