// The CSG model of recipe §2: a student `encoder_q` and a frozen teacher `encoder_k`, each a task
// network (DeepLab for segmentation, a ResNet classifier for classification) with a projection head
// per stage (`fc_csg.stage3`, `fc_csg.stage4`), and one key queue per stage. The queue update,
// InfoNCE and the EMA of the teacher's heads are ops of src/ops (queue.ts, nce.ts, optim.ts) composed
// in src/csg (queue.ts, loss.ts, optim.ts); this file holds the modules, their state_dict names and
// the hooks those use.
import { Tensor } from '../tensor/index.js';
import { randomUnitColumns } from './queue.js';
import { Module, IntScalar, type IntBuffer } from '../nn/module.js';
import { Linear, ReLU, Sequential, ParamInit } from '../nn/layers.js';
import { headParamGroups, type ResNet, type Features, type ModelOutput, type NamedParamGroup } from '../nn/resnet.js';
import { DeepLabResNet, type DeepLabOptions } from '../nn/deeplab.js';
import { ResNetClassifier, type ClassifierOptions } from '../nn/classifier.js';

export const CSG_DIM = 128;
export const CSG_QUEUE_SIZE = 65536;

/** Linear(C,C) → ReLU → Linear(C,dim): `fc_csg.stageS.{0,2}`. */
function projectionHead(channels: number, dim: number, init: ParamInit): Sequential {
  return new Sequential([new Linear(channels, channels, {}, init), new ReLU(), new Linear(channels, dim, {}, init)]);
}

export class ProjectionHeads extends Module {
  readonly stage3: Sequential;
  readonly stage4: Sequential;
  constructor(channels: { layer3: number; layer4: number }, dim: number, init: ParamInit) {
    super();
    this.stage3 = this.child('stage3', projectionHead(channels.layer3, dim, init));
    this.stage4 = this.child('stage4', projectionHead(channels.layer4, dim, init));
  }
}

/** What the CSG wrapper needs of an encoder: a ResNet with a task head `fc_new` and the projection heads. */
export interface CsgEncoderLike extends ResNet {
  readonly fc_new: Module;
  readonly fc_csg: ProjectionHeads;
  forward(x: Tensor): ModelOutput;
  features(x: Tensor): Features;
}

/** A DeepLab with CSG's projection heads; its `fc` (layer4 → dim, unused by segmentation) is kept for the names. */
export class CsgEncoder extends DeepLabResNet implements CsgEncoderLike {
  readonly fc_csg: ProjectionHeads;
  constructor(options: DeepLabOptions & { dim?: number }) {
    const dim = options.dim ?? CSG_DIM;
    super({ ...options, fcOut: dim });
    this.fc_csg = this.child('fc_csg', new ProjectionHeads(this.channels, dim, this.init));
    this.assignNames();
  }
}

/** A ResNet classifier with CSG's projection heads; its `fc` (layer4 → dim) is unused, kept for the names. */
export class CsgClassifierEncoder extends ResNetClassifier implements CsgEncoderLike {
  readonly fc_csg: ProjectionHeads;
  constructor(options: ClassifierOptions & { dim?: number }) {
    const dim = options.dim ?? CSG_DIM;
    super({ ...options, fcOut: dim });
    this.fc_csg = this.child('fc_csg', new ProjectionHeads(this.channels, dim, this.init));
    this.assignNames();
  }
}

export interface CsgWrapperOptions {
  /** Dimension of the projected vectors (128). */
  dim?: number;
  /** Keys per queue, K (65536). */
  queueSize?: number;
  seed?: number;
}

export type CsgOptions = DeepLabOptions & CsgWrapperOptions;
export type CsgClassifierOptions = ClassifierOptions & CsgWrapperOptions;

/** The wrapper: queues and their pointers, the student and the teacher, the EMA pairs, the groups. */
export class CsgModel<E extends CsgEncoderLike = CsgEncoderLike> extends Module {
  readonly queue3: Tensor;
  readonly queue4: Tensor;
  readonly queue_ptr3: IntBuffer;
  readonly queue_ptr4: IntBuffer;
  readonly encoder_q: E;
  readonly encoder_k: E;
  readonly dim: number;
  readonly queueSize: number;

  /**
   * @param trainsCsgHeads the student's fc_csg is trained (classification) or stays at its init (segmentation)
   * @param studentEval the student trains in eval mode, every BN on its running statistics (classification)
   */
  constructor(
    makeEncoder: (seed: number) => E,
    options: CsgWrapperOptions,
    readonly trainsCsgHeads: boolean,
    readonly studentEval: boolean,
  ) {
    super();
    this.dim = options.dim ?? CSG_DIM;
    this.queueSize = options.queueSize ?? CSG_QUEUE_SIZE;
    const seed = options.seed ?? 0;
    this.queue3 = this.buffer('queue3', Tensor.from(randomUnitColumns(this.dim, this.queueSize, seed + 3), [this.dim, this.queueSize]));
    this.queue4 = this.buffer('queue4', Tensor.from(randomUnitColumns(this.dim, this.queueSize, seed + 4), [this.dim, this.queueSize]));
    this.queue_ptr3 = this.buffer('queue_ptr3', new IntScalar(0, [1]));
    this.queue_ptr4 = this.buffer('queue_ptr4', new IntScalar(0, [1]));
    this.encoder_q = this.child('encoder_q', makeEncoder(seed));
    this.encoder_k = this.child('encoder_k', makeEncoder(seed));
    this.encoder_k.setRequiresGrad(false).eval();
    this.assignNames();
  }

  /** The teacher stays in eval mode whatever mode the student is put in (and so does a studentEval student). */
  override train(mode = true): this {
    this.training = mode;
    this.encoder_q.train(mode && !this.studentEval);
    this.encoder_k.eval();
    return this;
  }

  /** Makes the teacher an exact copy of the student (after loading ImageNet weights into encoder_q). */
  syncTeacher(): void {
    this.encoder_k.copyStateFrom(this.encoder_q);
  }

  /** (student, teacher) parameter pairs of the projection heads, for `k = m·k + (1 − m)·q`. */
  emaPairs(): [Tensor, Tensor][] {
    return this.pairs(this.encoder_q.fc_csg, this.encoder_k.fc_csg);
  }

  /** (student, teacher) pairs of the student's trainable backbone parameters: the teacher holds the start θ₀. */
  backbonePairs(): [Tensor, Tensor][] {
    const teacher = new Map(this.encoder_k.backboneModules());
    return this.encoder_q.backboneModules().flatMap(([name, m]) => this.pairs(m, teacher.get(name)!).filter(([q]) => q.requiresGrad));
  }

  private pairs(student: Module, teacher: Module): [Tensor, Tensor][] {
    const other = new Map(teacher.namedParameters());
    return student.namedParameters().map(([name, q]) => [q, other.get(name)!]);
  }

  /** Recipe §3 groups over the student (backbone at `backboneFactor`×, fc_new and, for classification, fc_csg at 1×). */
  paramGroups(options: { trainCsgHeads?: boolean; backboneFactor?: number } = {}): NamedParamGroup[] {
    const extra: [string, Module][] = (options.trainCsgHeads ?? this.trainsCsgHeads) ? [['fc_csg', this.encoder_q.fc_csg]] : [];
    return headParamGroups(this.encoder_q, { factor: options.backboneFactor, extra, prefix: 'encoder_q' });
  }
}

/** CSG for segmentation: DeepLab encoders, head BN and dropout in training mode, fc_csg untrained. */
export class CsgDeepLab extends CsgModel<CsgEncoder> {
  constructor(options: CsgOptions = {}) {
    super((seed) => new CsgEncoder({ ...options, seed }), options, false, false);
  }
}

/** CSG for classification (recipe §5): ResNet classifiers trained in eval mode, fc_csg trained. */
export class CsgClassifier extends CsgModel<CsgClassifierEncoder> {
  constructor(options: CsgClassifierOptions = {}) {
    super((seed) => new CsgClassifierEncoder({ ...options, seed }), options, true, true);
  }
}
