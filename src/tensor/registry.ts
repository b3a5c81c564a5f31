// Ops are registered by name, each with its forward (a kernel launch) and its backward rule side by
// side, as in tfjs-core. The tape (src/autograd) installs a recorder to decide what goes on it; this
// layer knows nothing else about autograd.
import { Tensor, TensorError, type OpDef, type OpRecord } from './tensor.js';

/** Whether an op applied to these inputs goes on the tape. */
export type Recorder = (inputs: readonly Tensor[]) => boolean;

const registry = new Map<string, OpDef<any>>();
let recorder: Recorder | null = null;

export function setRecorder(r: Recorder | null): void {
  recorder = r;
}

/** Whether an op applied to `inputs` now would go on the tape (so its inputs must stay what it read). */
export function recordsGradient(inputs: readonly Tensor[]): boolean {
  return recorder?.(inputs) ?? false;
}

export function getOp(name: string): OpDef<any> {
  const op = registry.get(name);
  if (!op) throw new TensorError(`no op registered as '${name}'`);
  return op;
}

export function registeredOps(): string[] {
  return [...registry.keys()].sort();
}

/** The tensors whose data the record's backward reads, per its op's declaration (a tensor read twice is listed twice). */
export function readByBackward(record: OpRecord): Tensor[] {
  const { op, inputs, attrs, out } = record;
  if (!op.reads) return [];
  const reads = typeof op.reads === 'function' ? op.reads(attrs) : op.reads;
  const read = reads.inputs.flatMap((i) => (inputs[i] ? [inputs[i]!] : []));
  return reads.out ? [...read, out] : read;
}

/** Registers an op and returns the function that applies it (and records it on the tape). */
export function defineOp<A = Record<string, never>>(def: OpDef<A>): (inputs: readonly Tensor[], attrs: A) => Tensor {
  if (registry.has(def.name)) throw new TensorError(`op '${def.name}' registered twice`);
  registry.set(def.name, def);
  return (inputs, attrs) => {
    for (const t of inputs) void t.binding; // throws a clear error on a disposed input
    const { out, saved = [] } = def.forward(inputs, attrs);
    const record: OpRecord = { op: def, inputs, attrs, saved, out };
    if (def.backward && recorder?.(inputs)) {
      out.gradFn = record;
      out.requiresGrad = true;
      // What the backward will read must outlive releaseIntermediate (src/nn); the rest may go early.
      for (const t of readByBackward(record)) t.backwardReaders++;
    } else {
      for (const s of saved) s.dispose();
    }
    return out;
  };
}
