// The CSG model of recipe §2: a student `encoder_q` and a frozen teacher `encoder_k`, each a DeepLab
// with a projection head per stage (`fc_csg.stage3`, `fc_csg.stage4`), and one key queue per stage.
// The queue update, InfoNCE and the EMA of the teacher's heads are ops of src/ops (queue.ts, nce.ts,
// optim.ts) composed in src/csg (queue.ts, loss.ts, optim.ts); this file holds the modules, their
// state_dict names and the hooks those use.
import { Tensor } from '../tensor/index.js';
import { randomUnitColumns } from './queue.js';
import { Module, IntScalar, type IntBuffer } from '../nn/module.js';
import { Linear, ReLU, Sequential, ParamInit } from '../nn/layers.js';
import { DeepLabResNet, segmentationParamGroups, type DeepLabOptions, type NamedParamGroup } from '../nn/deeplab.js';

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

/** A DeepLab with CSG's projection heads; its `fc` (layer4 → dim, unused by segmentation) is kept for the names. */
export class CsgEncoder extends DeepLabResNet {
  readonly fc_csg: ProjectionHeads;
  constructor(options: DeepLabOptions & { dim?: number }) {
    const dim = options.dim ?? CSG_DIM;
    super({ ...options, fcOut: dim });
    this.fc_csg = this.child('fc_csg', new ProjectionHeads(this.channels, dim, this.init));
    this.assignNames();
  }
}

export interface CsgOptions extends DeepLabOptions {
  /** Dimension of the projected vectors (128). */
  dim?: number;
  /** Keys per queue, K (65536). */
  queueSize?: number;
}

export class CsgDeepLab extends Module {
  readonly queue3: Tensor;
  readonly queue4: Tensor;
  readonly queue_ptr3: IntBuffer;
  readonly queue_ptr4: IntBuffer;
  readonly encoder_q: CsgEncoder;
  readonly encoder_k: CsgEncoder;
  readonly dim: number;
  readonly queueSize: number;

  constructor(options: CsgOptions = {}) {
    super();
    this.dim = options.dim ?? CSG_DIM;
    this.queueSize = options.queueSize ?? CSG_QUEUE_SIZE;
    const seed = options.seed ?? 0;
    this.queue3 = this.buffer('queue3', Tensor.from(randomUnitColumns(this.dim, this.queueSize, seed + 3), [this.dim, this.queueSize]));
    this.queue4 = this.buffer('queue4', Tensor.from(randomUnitColumns(this.dim, this.queueSize, seed + 4), [this.dim, this.queueSize]));
    this.queue_ptr3 = this.buffer('queue_ptr3', new IntScalar(0, [1]));
    this.queue_ptr4 = this.buffer('queue_ptr4', new IntScalar(0, [1]));
    this.encoder_q = this.child('encoder_q', new CsgEncoder({ ...options, seed }));
    this.encoder_k = this.child('encoder_k', new CsgEncoder({ ...options, seed }));
    this.encoder_k.setRequiresGrad(false).eval();
    this.assignNames();
  }

  /** The teacher stays in eval mode whatever mode the student is put in. */
  override train(mode = true): this {
    this.training = mode;
    this.encoder_q.train(mode);
    this.encoder_k.eval();
    return this;
  }

  /** Makes the teacher an exact copy of the student (after loading ImageNet weights into encoder_q). */
  syncTeacher(): void {
    this.encoder_k.copyStateFrom(this.encoder_q);
  }

  /** (student, teacher) parameter pairs of the projection heads, for `k = m·k + (1 − m)·q`. */
  emaPairs(): [Tensor, Tensor][] {
    const teacher = new Map(this.encoder_k.fc_csg.namedParameters());
    return this.encoder_q.fc_csg.namedParameters().map(([name, q]) => [q, teacher.get(name)!]);
  }

  /** Recipe §3 groups over the student (backbone at `backboneFactor`× the base LR); its fc_csg is trained only for classification. */
  paramGroups(options: { trainCsgHeads?: boolean; backboneFactor?: number } = {}): NamedParamGroup[] {
    const extra: [string, Module][] = options.trainCsgHeads ? [['fc_csg', this.encoder_q.fc_csg]] : [];
    return segmentationParamGroups(this.encoder_q, extra, 'encoder_q', options.backboneFactor);
  }
}
