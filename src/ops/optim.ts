// The recipe's parameter updates (§2, §3) as in-place kernels over parameter arenas (src/tensor/arena.ts:
// one flat buffer per list of parameters): the EMA of the key head and the SGD step of one group, each
// one dispatch (more only for a group larger than one storage binding). Off the tape. src/csg's
// emaUpdate and Sgd own the arenas and the schedule.
// WGSL: shaders/optim.wgsl · reference: kernels-test/ref/optim.ts · test: kernels-test/optim.test.ts
import { gpu, grid, forEachBindableChunk } from '../gpu/index.js';
import { ARENA_SPAN, ParamArena, Tensor, TensorError } from '../tensor/index.js';

// keys, queries [spans·1024] → keys (in place)
/** keys ← m·keys + (1 − m)·queries, two arenas of the same layout [spans·1024] (in place). */
export function emaArena(keys: ParamArena, queries: ParamArena, m: number): void {
  if (keys.size !== queries.size) throw new TensorError(`emaArena: arenas of ${keys.size} and ${queries.size} values`);
  forEachBindableChunk(keys.spans, ARENA_SPAN * 4, (first, count) => {
    const range = [first * ARENA_SPAN, count * ARENA_SPAN] as const;
    gpu().run(
      { family: 'optim', entry: 'ema' },
      { p: keys.range(...range), g: queries.range(...range) },
      { spans: count, spanBase: first, lr: 0, momentum: 0, weightDecay: 0, decay: m },
      grid(count),
    );
  });
  keys.markWritten();
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
}

// arena, grads, momentum [spans·1024], active u32 [spans] → arena, momentum (in place)
/**
 * One SGD step of a group, in place: arena [S] (S = spans·1024 values), grads [S] and momentum [S] in
 * the arena's layout, active u32 [spans] (1 where the span's parameter has a gradient; the others are
 * skipped). d = g + wd·p; buf = μ·buf + lr·d; p −= buf.
 */
export function sgdArena(arena: ParamArena, grads: Tensor, momentum: Tensor, active: Tensor, { lr, momentum: mu, weightDecay }: SgdHyper): void {
  if (grads.size < arena.size || momentum.size < arena.size) throw new TensorError(`sgdArena: buffers of ${grads.size} and ${momentum.size} values for an arena of ${arena.size}`);
  if (active.dtype !== 'u32' || active.size < arena.spans) throw new TensorError(`sgdArena: the span table must be u32 [${arena.spans}]`);
  forEachBindableChunk(arena.spans, ARENA_SPAN * 4, (first, count) => {
    const [from, bytes] = [first * ARENA_SPAN * 4, count * ARENA_SPAN * 4];
    gpu().run(
      { family: 'optim', entry: 'sgd' },
      { p: arena.range(first * ARENA_SPAN, count * ARENA_SPAN), g: grads.bindRange(from, bytes), buf: momentum.bindRange(from, bytes), spanActive: active.binding },
      { spans: count, spanBase: first, lr, momentum: mu, weightDecay, decay: 0 },
      grid(count),
    );
  });
  arena.markWritten();
}
