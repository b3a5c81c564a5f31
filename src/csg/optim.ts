// Parameter updates of the CSG recipe (§2, §3): the EMA that makes the key head follow the query
// head, and SGD with the learning rate folded into the momentum buffer, parameter groups and the
// poly schedule with a quadratic warm-up.
//
// One dispatch per parameter tensor: every tensor is its own GPU buffer (there are no offset views),
// so a group cannot be updated in one dispatch without copying it into a flat buffer and back. At
// ~20 µs a dispatch, ResNet-101 + heads (~330 tensors) cost ~7 ms a step, small next to the step.
import { gpu, grid } from '../gpu/index.js';
import { Tensor, TensorError, shapeStr } from '../tensor/index.js';

function runOptim(entry: 'ema' | 'sgd', p: Tensor, g: Tensor, buf: Tensor | null, values: { first?: number; lr?: number; momentum?: number; weightDecay?: number; decay?: number }): void {
  const vec4 = p.size % 4 === 0;
  const buffers: Record<string, GPUBufferBinding> = vec4 ? { p4: p.binding, g4: g.binding } : { p: p.binding, g: g.binding };
  if (buf) buffers[vec4 ? 'buf4' : 'buf'] = buf.binding;
  gpu().run(
    { family: 'optim', entry: vec4 ? `${entry}_vec4` : entry },
    buffers,
    { n: p.size, first: values.first ?? 0, lr: values.lr ?? 0, momentum: values.momentum ?? 0, weightDecay: values.weightDecay ?? 0, decay: values.decay ?? 0 },
    grid(Math.ceil(p.size / (vec4 ? 1024 : 256))),
  );
}

function sameShape(a: Tensor, b: Tensor, where: string): void {
  if (a.size !== b.size || a.shape.some((d, i) => d !== b.shape[i])) throw new TensorError(`${where}: ${a} ${shapeStr(a.shape)} and ${b} ${shapeStr(b.shape)} differ in shape`);
}

/** k = m·k + (1 − m)·q for each pair of key and query parameters (in place, off the tape). */
export function emaUpdate(keyParams: readonly Tensor[], queryParams: readonly Tensor[], m = 0.999): void {
  if (keyParams.length !== queryParams.length) throw new TensorError(`emaUpdate: ${keyParams.length} key parameters for ${queryParams.length} query parameters`);
  keyParams.forEach((k, i) => {
    const q = queryParams[i]!;
    sameShape(k, q, 'emaUpdate');
    runOptim('ema', k, q, null, { decay: m });
  });
}

/** lr = min(0.01 + 0.99·(it / warmup)², 1) · base · (1 − it / itMax)^power (recipe §3). */
export function polyWarmupLr(base: number, it: number, itMax: number, warmup = 100, power = 0.9): number {
  if (!(itMax > 0) || it < 0 || it > itMax) throw new TensorError(`polyWarmupLr: iteration ${it} outside [0, ${itMax}]`);
  return Math.min(0.01 + 0.99 * (it / warmup) ** 2, 1) * base * (1 - it / itMax) ** power;
}

export interface ParamGroup {
  params: readonly Tensor[];
  /** The group's base learning rate (e.g. 0.1·base for the backbone, base for the head). */
  lr: number;
}

export interface SgdOptions {
  momentum?: number;
  weightDecay?: number;
}

/**
 * SGD as the reference's: d = g + wd·p; buf = lr·d on a parameter's first step, else
 * buf = μ·buf + lr·d; p −= buf. Parameters without a gradient are skipped.
 */
export class Sgd {
  readonly momentum: number;
  readonly weightDecay: number;
  private buffers = new Map<Tensor, Tensor>();

  constructor(
    readonly groups: readonly ParamGroup[],
    options: SgdOptions = {},
  ) {
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 5e-4;
  }

  /** One step with learning rates lrs[g] per group (see polyWarmupLr and scheduledStep). */
  step(lrs: readonly number[]): void {
    if (lrs.length !== this.groups.length) throw new TensorError(`Sgd.step: ${lrs.length} learning rates for ${this.groups.length} groups`);
    this.groups.forEach((group, gi) => {
      for (const p of group.params) {
        if (!p.grad) continue;
        sameShape(p, p.grad, 'Sgd.step');
        let buf = this.buffers.get(p);
        const first = !buf;
        if (!buf) {
          buf = Tensor.empty(p.shape).keep();
          this.buffers.set(p, buf);
        }
        runOptim('sgd', p, p.grad, buf, { first: first ? 1 : 0, lr: lrs[gi]!, momentum: this.momentum, weightDecay: this.weightDecay });
      }
    });
  }

  /** A step at iteration `it` of `itMax` with every group's rate on the poly/warm-up schedule. */
  scheduledStep(it: number, itMax: number): number[] {
    const lrs = this.groups.map((g) => polyWarmupLr(g.lr, it, itMax));
    this.step(lrs);
    return lrs;
  }

  /** The momentum buffer of a parameter (null before its first step). */
  momentumOf(p: Tensor): Tensor | null {
    return this.buffers.get(p) ?? null;
  }

  /** Restores a parameter's momentum buffer from a checkpoint (its next step is not a first step). */
  restoreMomentum(p: Tensor, data: ArrayLike<number>): void {
    let buf = this.buffers.get(p);
    if (!buf) {
      buf = Tensor.empty(p.shape).keep();
      this.buffers.set(p, buf);
    }
    buf.write(data);
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
