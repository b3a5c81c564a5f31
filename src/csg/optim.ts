// Parameter updates of the CSG recipe (§2, §3): the EMA that makes the key head follow the query
// head, and SGD with the learning rate folded into the momentum buffer, parameter groups and the
// poly schedule with a quadratic warm-up.
//
// Each list of parameters lives in a parameter arena (src/tensor/arena.ts: one flat buffer, each
// tensor a slice of it), so the EMA is one dispatch and SGD one dispatch per group. SGD keeps its
// momentum and the step's gradients in flat buffers of the group's layout; the gradients are gathered
// into theirs with buffer copies (not dispatches), the only per-step copying. The kernels are
// src/ops/optim.ts.
import { ParamArena, Tensor, TensorError, shapeStr } from '../tensor/index.js';
import { fill, emaArena, sgdArena } from '../ops/index.js';

function sameShape(a: Tensor, b: Tensor, where: string): void {
  if (a.size !== b.size || a.shape.some((d, i) => d !== b.shape[i])) throw new TensorError(`${where}: ${a} ${shapeStr(a.shape)} and ${b} ${shapeStr(b.shape)} differ in shape`);
}

/** k = m·k + (1 − m)·q for each pair of key and query parameters (in place, off the tape, one dispatch). */
export function emaUpdate(keyParams: readonly Tensor[], queryParams: readonly Tensor[], m = 0.999): void {
  if (keyParams.length !== queryParams.length) throw new TensorError(`emaUpdate: ${keyParams.length} key parameters for ${queryParams.length} query parameters`);
  keyParams.forEach((k, i) => sameShape(k, queryParams[i]!, 'emaUpdate'));
  if (keyParams.length === 0) return;
  emaArena(ParamArena.of(keyParams), ParamArena.of(queryParams), m);
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

/** A group's flat buffers, in its arena's layout, and per parameter its slices of them. */
interface GroupState {
  arena: ParamArena;
  /** Zero until a parameter's first step. */
  momentum: Tensor;
  grads: Tensor;
  /** u32 per span: 1 where the parameter has a gradient this step. */
  active: Tensor;
  /** Which parameters had a gradient when `active` was last written. */
  activeFor: boolean[] | null;
  momentumSlots: Tensor[];
  gradSlots: Tensor[];
}

/**
 * SGD as the reference's: d = g + wd·p; buf = lr·d on a parameter's first step, else
 * buf = μ·buf + lr·d; p −= buf. Parameters without a gradient are skipped. The constructor packs
 * each group's parameters into a parameter arena.
 */
export class Sgd {
  readonly momentum: number;
  readonly weightDecay: number;
  private states: (GroupState | null)[];
  private slotOf = new Map<Tensor, { state: GroupState; index: number }>();
  /** Parameters that have had a step (or a restored momentum): their momentum is live. */
  private stepped = new Set<Tensor>();

  constructor(
    readonly groups: readonly ParamGroup[],
    options: SgdOptions = {},
  ) {
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 5e-4;
    this.states = groups.map((g) => (g.params.length ? this.groupState(g.params) : null));
  }

  private groupState(params: readonly Tensor[]): GroupState {
    const arena = ParamArena.of(params);
    const momentum = fill([arena.size], 0).keep();
    const grads = Tensor.empty([arena.size]).keep();
    const state: GroupState = {
      arena,
      momentum,
      grads,
      active: Tensor.empty([arena.spans], 'u32').keep(),
      activeFor: null,
      momentumSlots: params.map((p, i) => momentum.slice(arena.offsets[i]!, p.shape).keep()),
      gradSlots: params.map((p, i) => grads.slice(arena.offsets[i]!, p.shape).keep()),
    };
    params.forEach((p, index) => this.slotOf.set(p, { state, index }));
    return state;
  }

  /** One step with learning rates lrs[g] per group (see polyWarmupLr and scheduledStep). */
  step(lrs: readonly number[]): void {
    if (lrs.length !== this.groups.length) throw new TensorError(`Sgd.step: ${lrs.length} learning rates for ${this.groups.length} groups`);
    this.groups.forEach((group, gi) => {
      const state = this.states[gi];
      if (!state) return;
      const hasGrad = group.params.map((p) => p.grad !== null);
      if (!hasGrad.some(Boolean)) return;
      group.params.forEach((p, i) => {
        if (!p.grad) return;
        sameShape(p, p.grad, 'Sgd.step');
        state.gradSlots[i]!.copyFrom(p.grad);
        this.stepped.add(p);
      });
      this.writeActive(state, hasGrad);
      sgdArena(state.arena, state.grads, state.momentum, state.active, { lr: lrs[gi]!, momentum: this.momentum, weightDecay: this.weightDecay });
    });
  }

  /** Rewrites the span table only when the set of parameters with a gradient changes (a CPU write flushes). */
  private writeActive(state: GroupState, hasGrad: boolean[]): void {
    if (state.activeFor && state.activeFor.every((h, i) => h === hasGrad[i])) return;
    const flags = new Uint32Array(state.arena.spans);
    hasGrad.forEach((has, i) => has && flags.fill(1, ...state.arena.slotSpans(i)));
    state.active.write(flags);
    state.activeFor = hasGrad;
  }

  /** A step at iteration `it` of `itMax` with every group's rate on the poly/warm-up schedule. */
  scheduledStep(it: number, itMax: number): number[] {
    const lrs = this.groups.map((g) => polyWarmupLr(g.lr, it, itMax));
    this.step(lrs);
    return lrs;
  }

  /** The momentum buffer of a parameter (null before its first step): a slice of the group's. */
  momentumOf(p: Tensor): Tensor | null {
    const slot = this.slotOf.get(p);
    return slot && this.stepped.has(p) ? slot.state.momentumSlots[slot.index]! : null;
  }

  /** Restores a parameter's momentum buffer from a checkpoint (its next step is not a first step). */
  restoreMomentum(p: Tensor, data: ArrayLike<number>): void {
    const slot = this.slotOf.get(p);
    if (!slot) throw new TensorError(`Sgd.restoreMomentum: ${p} is in none of the groups`);
    slot.state.momentumSlots[slot.index]!.write(data);
    this.stepped.add(p);
  }

  dispose(): void {
    for (const s of this.states) {
      if (!s) continue;
      for (const t of [s.momentum, s.grads, s.active, ...s.momentumSlots, ...s.gradSlots]) t.dispose();
    }
    this.states = [];
    this.slotOf.clear();
    this.stepped.clear();
  }
}
