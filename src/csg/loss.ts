// The contrastive part of CSG's loss for one stage (recipe §2): pooled patch vectors of the student
// on im_q give queries, the teacher's features of im_k (pooled with the student's attention on im_k)
// give keys; InfoNCE against the stage's queue, then the keys are enqueued.
import { Tensor, TensorError, shapeStr } from '../tensor/index.js';
import { noGrad, detach } from '../autograd/index.js';
import { aPool, patchAvgPool, l2Normalize, infoNceWithRanks, matmul, mul, sum, reshape, concat, scale } from '../ops/index.js';
import type { KeyQueue } from './queue.js';

/** A projection head: pooled vectors [P·B, C] → [P·B, dim] (Linear → ReLU → Linear in the recipe). */
export type Head = (x: Tensor) => Tensor;

export interface CsgStageInputs {
  /** Student features of im_q [B, C, H, W] (on the tape). */
  studentQ: Tensor;
  /** Student features of im_k (a no-grad pass): the keys' attention source. */
  studentK: Tensor;
  /** Teacher features of im_k: the keys' values. */
  teacherK: Tensor;
  headQ: Head;
  /** The key head, already moved by the EMA (emaUpdate) for this forward. */
  headK: Head;
  queue: KeyQueue;
}

export interface CsgOptions {
  /** Patch grid side (8 for segmentation, 1 for classification). */
  chunks?: number;
  /** A-Pool (default) or plain average pooling (--no-apool). */
  apool?: boolean;
  tau?: number;
  /** Also materialise the InfoNCE logits [N, K + 1] (off the tape; for inspection only). */
  logits?: boolean;
}

export interface CsgStageResult {
  /** InfoNCE of the stage (scalar, gradient to studentQ). */
  loss: Tensor;
  /** Rank of each positive among the K + 1 candidates [P·B] (u32): rankAccuracy gives top-1/top-5. */
  ranks: Tensor;
  /** The stage's keys [P·B, dim] (now in the queue; the loss's backward reads them). */
  keys: Tensor;
  /** `[q·k, q·queue] / τ` [N, K + 1] against the queue before this batch's keys, when asked for. */
  logits?: Tensor;
}

/** The logits the fused InfoNCE kernel works on, spelled out with a matmul (inspection only). */
function nceLogits(q: Tensor, keys: Tensor, queue: Tensor, tau: number): Tensor {
  return noGrad(() => {
    const positive = reshape(sum(mul(q, keys), 1), [q.shape[0]!, 1]);
    const negatives = matmul(q, queue);
    const logits = scale(concat([positive, negatives], 1), 1 / tau);
    for (const t of [positive, negatives]) t.dispose();
    return logits;
  });
}

// studentQ, studentK, teacherK [B, C, H, W], queue [dim, K] → loss [], ranks u32 [P·B], keys [P·B, dim]
export function csgStageLoss(inputs: CsgStageInputs, { chunks = 8, apool = true, tau = 0.07, logits = false }: CsgOptions = {}): CsgStageResult {
  const { studentQ, studentK, teacherK, headQ, headK, queue } = inputs;
  if (studentK.shape.some((d, i) => d !== studentQ.shape[i]) || teacherK.shape.some((d, i) => d !== studentQ.shape[i])) {
    throw new TensorError(`csgStageLoss: feature maps ${shapeStr(studentQ.shape)}, ${shapeStr(studentK.shape)}, ${shapeStr(teacherK.shape)} differ in shape`);
  }
  const pooledQ = apool ? aPool(studentQ, studentQ, chunks) : patchAvgPool(studentQ, chunks);
  const projected = headQ(pooledQ);
  const q = l2Normalize(projected);
  const keys = noGrad(() => {
    const source = detach(studentK);
    const pooledK = apool ? aPool(source, teacherK, chunks) : patchAvgPool(teacherK, chunks);
    const raw = headK(pooledK);
    const k = l2Normalize(raw);
    for (const t of [source, pooledK, raw]) t.dispose();
    return k;
  });
  if (keys.shape[1] !== queue.dim) throw new TensorError(`csgStageLoss: keys of dimension ${keys.shape[1]} for a queue of dimension ${queue.dim}`);
  const { loss, ranks } = infoNceWithRanks(q, keys, queue.queue, tau);
  const inspected = logits ? nceLogits(q, keys, queue.queue, tau) : undefined;
  queue.enqueue(keys);
  return { loss, ranks, keys, logits: inspected };
}
