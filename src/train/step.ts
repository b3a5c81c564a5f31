// One CSG training step (recipe §2–§3), shared by train:seg, train:cls and the golden-step command
// csg:step: EMA of the teacher's heads, the student's forward on im_q (segmentation or classification),
// cross-entropy, the student's and the teacher's passes on im_k, InfoNCE per stage against its queue
// (then enqueue), an optional L2 pull towards the ImageNet start (compare:cls's comparison points),
// backward, SGD on the poly/warm-up schedule. Everything is encoded into few command buffers; the
// only readback is one small vector of the step's scalars (the training core checks them for NaN).
import { Tensor, scopeAsync } from '../tensor/index.js';
import { backward, noGrad, zeroGrad } from '../autograd/index.js';
import { add, sub, mul, scale, sumAll, crossEntropy, concat, reshape, rankAccuracy, globalAvgPool } from '../ops/index.js';
import { emaUpdate, polyWarmupLr, Sgd, KeyQueue, csgStageLoss, type Head } from '../csg/index.js';
import type { CsgModel, CsgEncoderLike } from '../csg/model.js';
import type { TrainOptions } from './options.js';

export type Stage = 3 | 4;

export interface StepConfig {
  /** λ; 0 trains the baseline (no key passes, no queues touched). */
  lambda: number;
  stages: Stage[];
  chunks: number;
  tau: number;
  emaMomentum: number;
  apool: boolean;
  /** Projection MLP heads Linear → ReLU → Linear (false: the last Linear alone). */
  mlp: boolean;
  baseLr: number;
  /** The backbone's learning rate is baseLr·backboneFactor (--factor). */
  backboneFactor: number;
  itersMax: number;
  /** Steps of the quadratic warm-up (recipe: 100). */
  warmup: number;
  /** An extra loss pulling the student towards the ImageNet start (the teacher's backbone). */
  regularizer?: Regularizer;
}

/**
 * compare:cls's comparison points: 'weight-l2' adds weight·Σ‖θ − θ₀‖² over the backbone's trainable
 * parameters; 'feature-l2' adds weight·mean over images of ‖pool(f₄(x)) − pool(f₄⁰(x))‖², the frozen
 * ImageNet teacher's average-pooled stage-4 features of the same image.
 */
export interface Regularizer {
  kind: 'weight-l2' | 'feature-l2';
  weight: number;
}

/** The step's settings from the shared flags (train:seg, csg:step). */
export function stepConfig(o: TrainOptions): StepConfig {
  return {
    lambda: o.csg,
    stages: o.stages as Stage[],
    chunks: o.chunks,
    tau: o.tau,
    emaMomentum: o.momentumEma,
    apool: o.apool,
    mlp: o.mlp,
    baseLr: o.lr,
    backboneFactor: o.factor,
    itersMax: o.itersMax,
    warmup: o.warmup,
  };
}

export interface StepBatch {
  n: number;
  height: number;
  width: number;
  /** [n, 3, H, W] normalised. */
  images: Float32Array;
  /** Key images (ColorJitter of the same crop); needed when λ > 0. */
  keys: Float32Array | null;
  /** Segmentation: [n, H, W], 255 = ignore; classification: [n]. */
  labels: Int32Array;
}

export interface StepResult {
  it: number;
  ce: number;
  nce: Partial<Record<Stage, number>>;
  top1: Partial<Record<Stage, number>>;
  top5: Partial<Record<Stage, number>>;
  /** The regularizer's term before its weight, when one is set. */
  reg?: number;
  total: number;
  lrs: number[];
}

/** Tensors of one step offered for inspection before the backward (csg:step writes them out). */
export interface StepTensors {
  /** Segmentation logits at the input's size, or classification logits [n, classes]. */
  logits: Tensor;
  /** Per stage, the InfoNCE logits [N, K + 1] against the queue before this step's enqueue. */
  nceLogits: Partial<Record<Stage, Tensor>>;
}

/** Inspection points of a step; without them the step does no extra work or readback. */
export interface StepHooks {
  /** Before the backward. */
  inspect?: (t: StepTensors) => Promise<void>;
  /** After the backward, before SGD: the student's parameters that carry a gradient, by name. */
  afterBackward?: (params: readonly [string, Tensor][]) => Promise<void>;
}

export class CsgTrainStep {
  readonly sgd: Sgd;
  readonly queues: Partial<Record<Stage, KeyQueue>> = {};
  private readonly groupScales: number[];
  readonly trainable: Tensor[];
  /** Every student parameter that can take a gradient (fc_csg takes one from InfoNCE but is not trained). */
  private readonly gradCarrying: [string, Tensor][];

  constructor(
    readonly model: CsgModel,
    readonly config: StepConfig,
  ) {
    const groups = model.paramGroups({ backboneFactor: config.backboneFactor });
    this.groupScales = groups.map((g) => g.lrScale);
    this.trainable = groups.flatMap((g) => g.params.map(([, p]) => p));
    this.gradCarrying = model.encoder_q.namedParameters('encoder_q').filter(([, p]) => p.requiresGrad);
    this.sgd = new Sgd(groups.map((g) => ({ params: g.params.map(([, p]) => p), lr: config.baseLr * g.lrScale })));
    for (const stage of config.stages) {
      // The model's queue_ptrS is the queue's pointer: a checkpoint loaded into the model moves it.
      this.queues[stage] = stage === 3 ? new KeyQueue(model.queue3, model.queue_ptr3) : new KeyQueue(model.queue4, model.queue_ptr4);
    }
  }

  /** The stage's projection head; without the MLP only its last Linear (C → 128) is used. */
  private head(encoder: CsgEncoderLike, stage: Stage): Head {
    const h = stage === 3 ? encoder.fc_csg.stage3 : encoder.fc_csg.stage4;
    if (!this.config.mlp) return (x) => h.items[2]!.forward(x);
    return (x) => h.forward(x);
  }

  /** Learning rates of the groups at iteration `it` (recipe §3). */
  learningRates(it: number): number[] {
    return this.groupScales.map((s) => polyWarmupLr(this.config.baseLr * s, it, this.config.itersMax, this.config.warmup));
  }

  /**
   * Runs step `it`. The hooks see the step's tensors before the backward and the gradients before
   * SGD (the golden-step command saves them).
   */
  async run(it: number, batch: StepBatch, hooks: StepHooks = {}): Promise<StepResult> {
    const { model, config } = this;
    const csg = config.lambda > 0;
    if (csg && !batch.keys) throw new Error('CSG step: key images are needed when λ > 0');
    model.train();
    return scopeAsync(async () => {
      if (csg && config.mlp) {
        const pairs = model.emaPairs();
        emaUpdate(
          pairs.map(([, k]) => k),
          pairs.map(([q]) => q),
          config.emaMomentum,
        );
      }
      const shape = [batch.n, 3, batch.height, batch.width];
      const images = Tensor.from(batch.images, shape);
      const out = model.encoder_q.forward(images);
      const labelShape = out.logits.rank === 2 ? [batch.n] : [batch.n, batch.height, batch.width];
      const ce = crossEntropy(out.logits, Tensor.from(batch.labels, labelShape, 'i32'), 255);
      let total = ce;
      const scalars: Tensor[] = [ce];
      if (config.regularizer) {
        const term = this.regularizerTerm(config.regularizer, images, out.layer4);
        total = add(total, scale(term, config.regularizer.weight));
        scalars.push(term);
      }
      const nceLogits: StepTensors['nceLogits'] = {};
      if (csg) {
        const keys = Tensor.from(batch.keys!, shape);
        const studentK = noGrad(() => model.encoder_q.features(keys));
        const teacherK = noGrad(() => model.encoder_k.features(keys));
        for (const stage of config.stages) {
          const layer = stage === 3 ? 'layer3' : 'layer4';
          const r = csgStageLoss(
            {
              studentQ: out[layer],
              studentK: studentK[layer],
              teacherK: teacherK[layer],
              headQ: this.head(model.encoder_q, stage),
              headK: this.head(model.encoder_k, stage),
              queue: this.queues[stage]!,
            },
            { chunks: config.chunks, apool: config.apool, tau: config.tau, logits: Boolean(hooks.inspect) },
          );
          if (r.logits) nceLogits[stage] = r.logits;
          total = add(total, scale(r.loss, config.lambda));
          scalars.push(r.loss, rankAccuracy(r.ranks));
        }
      }
      scalars.push(total);
      if (hooks.inspect) await hooks.inspect({ logits: out.logits, nceLogits });
      backward(total);
      if (hooks.afterBackward) await hooks.afterBackward(this.gradCarrying.filter(([, p]) => p.grad));
      const lrs = this.learningRates(it);
      this.sgd.step(lrs);
      zeroGrad(this.gradCarrying.map(([, p]) => p));
      const values = await noGrad(() => concat(scalars.map((s) => reshape(s, [s.size])), 0)).read();
      const result: StepResult = { it, ce: values[0]!, nce: {}, top1: {}, top5: {}, total: values[values.length - 1]!, lrs };
      const first = config.regularizer ? 2 : 1;
      if (config.regularizer) result.reg = values[1]!;
      config.stages.forEach((stage, i) => {
        if (!csg) return;
        result.nce[stage] = values[first + 3 * i]!;
        result.top1[stage] = values[first + 1 + 3 * i]!;
        result.top5[stage] = values[first + 2 + 3 * i]!;
      });
      return result;
    });
  }

  /** The regularizer's unweighted term (scalar, on the tape). */
  private regularizerTerm(r: Regularizer, images: Tensor, studentLayer4: Tensor): Tensor {
    if (r.kind === 'weight-l2') {
      return this.model
        .backbonePairs()
        .map(([q, k]) => {
          const d = sub(q, k);
          return sumAll(mul(d, d));
        })
        .reduce((a, b) => add(a, b));
    }
    const pooled = (layer4: Tensor) => {
      const p = globalAvgPool(layer4);
      return reshape(p, [p.shape[0]!, p.shape[1]!]);
    };
    const teacher = noGrad(() => pooled(this.model.encoder_k.features(images).layer4));
    const d = sub(pooled(studentLayer4), teacher);
    return scale(sumAll(mul(d, d)), 1 / images.shape[0]!);
  }

  dispose(): void {
    this.sgd.dispose();
  }
}
