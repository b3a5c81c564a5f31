// DeepLab on a dilated ResNet (output stride 8) with CSG's head `fc_new`: an ASPP (torchvision's
// DeepLabV3 layout) under `fc_new.conv2d_list.0`, logits upsampled to the input with align_corners.
import { Tensor } from '../tensor/index.js';
import { concat, interpolateBilinear } from '../ops/index.js';
import { Module, releaseIntermediate, type Layer } from './module.js';
import { Conv2d, BatchNorm2d, ReLU, Dropout, GlobalAvgPool, ModuleList, Sequential, ParamInit, chain } from './layers.js';
import { ResNet, type ResNetOptions, type ModelOutput } from './resnet.js';

export const ASPP_RATES = [12, 24, 36] as const;

/** conv (no bias) → BN → ReLU, the unit of every ASPP branch. */
function convBnRelu(inC: number, outC: number, kernel: number, dilation: number, init: ParamInit): Sequential {
  const padding = kernel === 3 ? dilation : 0;
  return new Sequential([new Conv2d(inC, outC, kernel, { padding, dilation }, init), new BatchNorm2d(outC), new ReLU()]);
}

/** Image pooling branch: global average → 1×1 conv → BN → ReLU → back to the map's size (align_corners=false). */
export class AsppPooling extends Sequential {
  constructor(inC: number, outC: number, init: ParamInit) {
    super([new GlobalAvgPool(), new Conv2d(inC, outC, 1, {}, init), new BatchNorm2d(outC), new ReLU()]);
  }
  // x [N, C, H, W] → [N, outC, H, W]
  override forward(x: Tensor): Tensor {
    const pooled = chain(x, this.items);
    const out = interpolateBilinear(pooled, [x.shape[2]!, x.shape[3]!], false);
    releaseIntermediate(pooled, out);
    return out;
  }
}

export class Aspp extends Module implements Layer {
  readonly convs: ModuleList<Layer>;
  readonly project: Sequential;
  constructor(inC: number, outC: number, dropout: number, init: ParamInit) {
    super();
    this.convs = this.child(
      'convs',
      new ModuleList<Layer>([
        convBnRelu(inC, outC, 1, 1, init),
        ...ASPP_RATES.map((rate) => convBnRelu(inC, outC, 3, rate, init)),
        new AsppPooling(inC, outC, init),
      ]),
    );
    this.project = this.child(
      'project',
      new Sequential([new Conv2d(outC * this.convs.items.length, outC, 1, {}, init), new BatchNorm2d(outC), new ReLU(), new Dropout(dropout)]),
    );
  }
  // x [N, inC, H, W] → [N, outC, H, W]
  forward(x: Tensor): Tensor {
    const branches = this.convs.items.map((branch) => branch.forward(x));
    const joined = concat(branches, 1);
    for (const b of branches) releaseIntermediate(b, joined);
    const out = this.project.forward(joined);
    releaseIntermediate(joined, out);
    return out;
  }
}

/** ASPP → 3×3 conv → BN → ReLU → 1×1 classifier (with bias): `fc_new.conv2d_list.0.{0..4}`. */
export class DeepLabHead extends Sequential {
  constructor(inC: number, width: number, classes: number, dropout: number, init: ParamInit) {
    super([
      new Aspp(inC, width, dropout, init),
      new Conv2d(width, width, 3, { padding: 1 }, init),
      new BatchNorm2d(width),
      new ReLU(),
      new Conv2d(width, classes, 1, { bias: true }, init),
    ]);
  }
}

/** `fc_new`: a list holding one DeepLabHead (the DeepLabv2 name for a list of classifiers). */
export class SegmentationHead extends Module implements Layer {
  readonly conv2d_list: ModuleList<DeepLabHead>;
  constructor(inC: number, width: number, classes: number, dropout: number, init: ParamInit) {
    super();
    this.conv2d_list = this.child('conv2d_list', new ModuleList([new DeepLabHead(inC, width, classes, dropout, init)]));
  }
  // layer4 [N, C, H/8, W/8] → logits [N, classes, H/8, W/8]
  forward(x: Tensor): Tensor {
    return this.conv2d_list.items[0]!.forward(x);
  }
}

export interface DeepLabOptions extends Omit<ResNetOptions, 'outputStride' | 'frozenBn'> {
  classes?: number;
  /** Channels of the ASPP and of the layers after it (256 in the recipe). */
  headWidth?: number;
  /** Dropout after the ASPP projection (0.5 in the recipe). */
  headDropout?: number;
  outputStride?: 8 | 16;
  /** Recipe §1: the backbone's BN is frozen while training (default true). */
  frozenBackboneBn?: boolean;
}

/** Logits [N, classes, H, W] at the input's size, with the layer3/layer4 features. */
export type SegmentationOutput = ModelOutput;

export class DeepLabResNet extends ResNet {
  readonly fc_new: SegmentationHead;
  readonly classes: number;
  constructor(options: DeepLabOptions = {}) {
    super({ ...options, outputStride: options.outputStride ?? 8, frozenBn: options.frozenBackboneBn ?? true });
    this.classes = options.classes ?? 19;
    this.fc_new = this.child(
      'fc_new',
      new SegmentationHead(this.channels.layer4, options.headWidth ?? 256, this.classes, options.headDropout ?? 0.5, this.init),
    );
    this.assignNames();
  }

  // x [N, 3, H, W] → logits [N, classes, H, W], layer3 [N, 16·width, H/8, W/8], layer4 [N, 32·width, H/8, W/8]
  /** Logits at the input's size plus the layer3/layer4 features (kept for CSG; the input is not freed). */
  forward(x: Tensor): SegmentationOutput {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new RangeError(`DeepLabResNet: expected images [N, 3, H, W], got [${x.shape.join(', ')}]`);
    const { layer3, layer4 } = this.features(x);
    const small = this.fc_new.forward(layer4);
    const logits = interpolateBilinear(small, [x.shape[2]!, x.shape[3]!], true);
    releaseIntermediate(small, logits);
    return { logits, layer3, layer4 };
  }
}
