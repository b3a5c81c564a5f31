// Modules in the PyTorch manner: parameters, buffers and children registered by name, so that the
// dotted paths of namedParameters()/stateDict() are exactly PyTorch's state_dict keys.
import { Tensor, TensorError, shapeStr, sizeOf, type Shape } from '../tensor/index.js';

/** An integer buffer kept on the CPU (num_batches_tracked, queue pointers); int64 in files. */
export interface IntBuffer {
  value: number;
  readonly shape: [] | [1];
}

export class IntScalar implements IntBuffer {
  constructor(
    public value: number,
    readonly shape: [] | [1] = [],
  ) {}
}

export type StateValue = Tensor | IntBuffer;

/** Host data for one state_dict entry, as read from or written to a file. */
export interface HostTensor {
  shape: Shape;
  data: ArrayLike<number> | ArrayLike<bigint>;
}

export interface ExportedTensor {
  dtype: 'F32' | 'I64';
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export interface LoadResult {
  /** Entries of the module that the source did not have (non-strict loads only). */
  missing: string[];
  /** Entries of the source the module does not have (non-strict loads only). */
  unexpected: string[];
}

function listNames(names: string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')} … (${names.length} in all)`;
}

export abstract class Module {
  training = true;
  private readonly ownParams = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, StateValue>();
  private readonly ownChildren = new Map<string, Module>();

  /** Registers a trainable parameter (kept out of scopes, requiresGrad on). */
  protected param(name: string, tensor: Tensor): Tensor {
    tensor.requiresGrad = true;
    tensor.name = name;
    this.ownParams.set(name, tensor.keep());
    return tensor;
  }

  protected buffer<V extends StateValue>(name: string, value: V): V {
    if (value instanceof Tensor) value.keep().name = name;
    this.ownBuffers.set(name, value);
    return value;
  }

  protected child<M extends Module>(name: string, module: M): M {
    this.ownChildren.set(name, module);
    return module;
  }

  children(): [string, Module][] {
    return [...this.ownChildren];
  }

  /** This module and every descendant, with dotted paths ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, m] of this.ownChildren) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, p] of m.ownParams) out.push([path ? `${path}.${name}` : name, p]);
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): [string, StateValue][] {
    const out: [string, StateValue][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, b] of m.ownBuffers) out.push([path ? `${path}.${name}` : name, b]);
    }
    return out;
  }

  /** Live entries in PyTorch's order: each module's parameters, then its buffers, then its children. */
  stateDict(prefix = ''): Map<string, StateValue> {
    const out = new Map<string, StateValue>();
    const visit = (m: Module, path: string): void => {
      const key = (name: string): string => (path ? `${path}.${name}` : name);
      for (const [name, p] of m.ownParams) out.set(key(name), p);
      for (const [name, b] of m.ownBuffers) out.set(key(name), b);
      for (const [name, c] of m.ownChildren) visit(c, key(name));
    };
    visit(this, prefix);
    return out;
  }

  /**
   * Copies host data into the module's tensors by name. Every shape must match exactly (the error
   * names the tensor). Strict (the default): every entry must be present on both sides.
   */
  loadStateDict(source: Map<string, HostTensor> | Record<string, HostTensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const src = source instanceof Map ? source : new Map(Object.entries(source));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const parts = [];
      if (missing.length) parts.push(`missing ${listNames(missing)}`);
      if (unexpected.length) parts.push(`unexpected ${listNames(unexpected)}`);
      throw new TensorError(`loadStateDict: ${parts.join('; ')}`);
    }
    for (const [name, target] of own) {
      const entry = src.get(name);
      if (!entry) continue;
      const shape = target.shape;
      if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
        throw new TensorError(`loadStateDict: '${name}' has shape ${shapeStr(entry.shape)} in the source, ${shapeStr(shape)} in the model`);
      }
      if (entry.data.length !== sizeOf(shape)) {
        throw new TensorError(`loadStateDict: '${name}' holds ${entry.data.length} values for shape ${shapeStr(shape)}`);
      }
      if (target instanceof Tensor) {
        target.write(entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data as ArrayLike<number | bigint>, Number));
      } else {
        target.value = Number(entry.data[0]);
      }
    }
    return { missing, unexpected };
  }

  /** Reads every entry back to the host (for checkpoints): parameters and float buffers F32, counters I64. */
  async exportStateDict(prefix = ''): Promise<Map<string, ExportedTensor>> {
    const out = new Map<string, ExportedTensor>();
    for (const [name, v] of this.stateDict(prefix)) {
      out.set(
        name,
        v instanceof Tensor
          ? { dtype: 'F32', shape: [...v.shape], data: await v.readFloat32() }
          : { dtype: 'I64', shape: [...v.shape], data: BigInt64Array.of(BigInt(v.value)) },
      );
    }
    return out;
  }

  /** Copies every entry of `other` (same architecture) into this module, on the GPU. */
  copyStateFrom(other: Module): void {
    const theirs = other.stateDict();
    for (const [name, mine] of this.stateDict()) {
      const src = theirs.get(name);
      if (!src) throw new TensorError(`copyStateFrom: the source has no '${name}'`);
      if (mine instanceof Tensor && src instanceof Tensor) {
        if (mine.size !== src.size) throw new TensorError(`copyStateFrom: '${name}' is ${shapeStr(src.shape)} in the source, ${shapeStr(mine.shape)} here`);
        mine.copyFrom(src);
      } else if (!(mine instanceof Tensor) && !(src instanceof Tensor)) {
        mine.value = src.value;
      } else {
        throw new TensorError(`copyStateFrom: '${name}' differs in kind`);
      }
    }
  }

  /** Sets training mode here and below (modules with fixed modes override this). */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.ownChildren.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns gradients on or off for every parameter here and below. */
  setRequiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Gives every parameter and tensor buffer its full dotted name (for messages and checkpoints). */
  assignNames(prefix = ''): this {
    for (const [name, v] of this.stateDict(prefix)) if (v instanceof Tensor) v.name = name;
    return this;
  }

  dispose(): void {
    for (const v of this.stateDict().values()) if (v instanceof Tensor) v.dispose();
  }
}

/** A module that maps one tensor to one tensor (what Sequential chains). */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/**
 * Frees an intermediate `x` once its last consumer produced `y`: the forward will not read x again.
 * On the tape, when a record's backward reads x (the ops' BackwardReads), x goes once the last such
 * record ran in the backward; else its memory goes now and it stays a node of the graph
 * (releaseData), as PyTorch frees what no backward node saved. Off the tape it is disposed.
 */
export function releaseIntermediate(x: Tensor, y: Tensor): void {
  if (x === y) return;
  if (x.backwardReaders > 0) x.releaseAfterBackward = true;
  else if (x.requiresGrad) x.releaseData();
  else x.dispose();
}
