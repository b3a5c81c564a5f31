// ResNet with torchvision's Bottleneck (1×1 → 3×3 → 1×1, ×4 expansion) and its state_dict names;
// block counts, base width, output stride and the Caffe-style stride placement are options.
import { Tensor, TensorError } from '../tensor/index.js';
import { add, relu, reshape, globalAvgPool } from '../ops/index.js';
import { Module, releaseIntermediate, type Layer, type HostTensor } from './module.js';
import { Conv2d, BatchNorm2d, ReLU, MaxPool2d, Linear, Sequential, ParamInit, chain } from './layers.js';

export const RESNET50_LAYERS = [3, 4, 6, 3] as const;
export const RESNET101_LAYERS = [3, 4, 23, 3] as const;
export const BOTTLENECK_EXPANSION = 4;

export interface ResNetOptions {
  /** Blocks per stage: [3,4,6,3] is ResNet-50, [3,4,23,3] ResNet-101. */
  layers?: readonly number[];
  /** Channels of the stem and of layer1's 3×3 convs (64 in ResNet; smaller for CPU work). */
  width?: number;
  /** Stride on the first 1×1 conv of a block (Caffe/Keras weights) instead of on the 3×3 (torchvision). */
  strideIn1x1?: boolean;
  /** 32 (classification), 16 (layer4 dilated) or 8 (layer3 and layer4 dilated, DeepLab). */
  outputStride?: 8 | 16 | 32;
  /** Output features of a final `fc` Linear on the pooled layer4 features; none when null. */
  fcOut?: number | null;
  /** Backbone BatchNorms normalise with running statistics and take no gradient (recipe §1). */
  frozenBn?: boolean;
  seed?: number;
}

/** A parsed '3.4.6.3'-style block count list. */
export function parseLayers(spec: string): number[] {
  const counts = spec.split('.').map(Number);
  if (counts.length !== 4 || counts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError(`layers: expected four positive block counts like 3.4.6.3, got '${spec}'`);
  }
  return counts;
}

export class Bottleneck extends Module implements Layer {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | null;
  constructor(
    inplanes: number,
    planes: number,
    o: { stride: number; dilation: number; downsample: boolean; strideIn1x1: boolean; frozenBn: boolean },
    init: ParamInit,
  ) {
    super();
    const bn = (c: number): BatchNorm2d => new BatchNorm2d(c, { frozen: o.frozenBn });
    const out = planes * BOTTLENECK_EXPANSION;
    const [s1, s3] = o.strideIn1x1 ? [o.stride, 1] : [1, o.stride];
    this.conv1 = this.child('conv1', new Conv2d(inplanes, planes, 1, { stride: s1 }, init));
    this.bn1 = this.child('bn1', bn(planes));
    this.conv2 = this.child('conv2', new Conv2d(planes, planes, 3, { stride: s3, padding: o.dilation, dilation: o.dilation }, init));
    this.bn2 = this.child('bn2', bn(planes));
    this.conv3 = this.child('conv3', new Conv2d(planes, out, 1, {}, init));
    this.bn3 = this.child('bn3', bn(out));
    this.relu = this.child('relu', new ReLU());
    this.downsample = o.downsample
      ? this.child('downsample', new Sequential([new Conv2d(inplanes, out, 1, { stride: o.stride }, init), bn(out)]))
      : null;
  }
  // x [N, inplanes, H, W] → [N, 4·planes, H/stride, W/stride]
  forward(x: Tensor): Tensor {
    const y = chain(x, [this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3]);
    const identity = this.downsample ? this.downsample.forward(x) : x;
    const sum = add(y, identity);
    releaseIntermediate(y, sum);
    if (identity !== x) releaseIntermediate(identity, sum);
    const out = relu(sum);
    releaseIntermediate(sum, out);
    return out;
  }
}

export interface Features {
  layer3: Tensor;
  layer4: Tensor;
}

/** A task model's forward: its logits, and the layer3/layer4 features CSG works on. */
export interface ModelOutput extends Features {
  logits: Tensor;
}

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly fc: Linear | null;
  readonly width: number;
  readonly blockCounts: number[];
  /** Channels out of layer3 and layer4. */
  readonly channels: { layer3: number; layer4: number };
  protected readonly init: ParamInit;

  constructor(options: ResNetOptions = {}) {
    super();
    const layers = [...(options.layers ?? RESNET50_LAYERS)];
    if (layers.length !== 4 || layers.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new RangeError(`ResNet: layers must be four positive block counts, got [${layers.join(', ')}]`);
    }
    const width = options.width ?? 64;
    const outputStride = options.outputStride ?? 32;
    if (![8, 16, 32].includes(outputStride)) throw new RangeError(`ResNet: output stride must be 8, 16 or 32, got ${outputStride}`);
    const frozenBn = options.frozenBn ?? false;
    const strideIn1x1 = options.strideIn1x1 ?? false;
    this.width = width;
    this.blockCounts = layers;
    this.init = new ParamInit(options.seed ?? 0);
    const init = this.init;

    this.conv1 = this.child('conv1', new Conv2d(3, width, 7, { stride: 2, padding: 3 }, init));
    this.bn1 = this.child('bn1', new BatchNorm2d(width, { frozen: frozenBn }));
    this.relu = this.child('relu', new ReLU());
    this.maxpool = this.child('maxpool', new MaxPool2d({ kernel: 3, stride: 2, padding: 1 }));

    // torchvision's replace_stride_with_dilation: a dilated stage keeps stride 1, doubles the
    // dilation, and its block 0 still uses the previous stage's dilation.
    const dilate = [false, false, outputStride === 8, outputStride <= 16];
    let inplanes = width;
    let dilation = 1;
    const stages = layers.map((blocks, i) => {
      const planes = width * 2 ** i;
      let stride = i === 0 ? 1 : 2;
      const previousDilation = dilation;
      if (dilate[i]) {
        dilation *= stride;
        stride = 1;
      }
      const stage: Bottleneck[] = [];
      for (let b = 0; b < blocks; b++) {
        stage.push(
          new Bottleneck(
            inplanes,
            planes,
            { stride: b === 0 ? stride : 1, dilation: b === 0 ? previousDilation : dilation, downsample: b === 0, strideIn1x1, frozenBn },
            init,
          ),
        );
        inplanes = planes * BOTTLENECK_EXPANSION;
      }
      return this.child(`layer${i + 1}`, new Sequential(stage));
    });
    [this.layer1, this.layer2, this.layer3, this.layer4] = stages as [Sequential, Sequential, Sequential, Sequential];
    this.channels = { layer3: width * 4 * BOTTLENECK_EXPANSION, layer4: width * 8 * BOTTLENECK_EXPANSION };
    const fcOut = options.fcOut ?? null;
    this.fc = fcOut === null ? null : this.child('fc', new Linear(this.channels.layer4, fcOut, {}, init));
    this.assignNames();
  }

  // x [N, 3, H, W] → layer3 [N, 16·width, H/s3, W/s3], layer4 [N, 32·width, H/s4, W/s4] (s3, s4 = 16, 32; both 8 at output stride 8)
  /** Stem through layer4; returns the outputs of layer3 and layer4 (the input is not freed). */
  features(x: Tensor): Features {
    const layer3 = chain(x, [this.conv1, this.bn1, this.relu, this.maxpool, this.layer1, this.layer2, this.layer3]);
    const layer4 = this.layer4.forward(layer3);
    return { layer3, layer4 };
  }

  // x [N, 3, H, W] → logits [N, fcOut]
  /** Classification: layer4 → global average pool → fc, [N, fcOut] (the input is not freed). */
  classify(x: Tensor): Tensor {
    if (!this.fc) throw new TensorError('ResNet.classify: this ResNet has no fc (build it with fcOut)');
    const { layer3, layer4 } = this.features(x);
    releaseIntermediate(layer3, layer4);
    const pooled = globalAvgPool(layer4);
    releaseIntermediate(layer4, pooled);
    const flat = reshape(pooled, [pooled.shape[0]!, pooled.shape[1]!]);
    releaseIntermediate(pooled, flat);
    const logits = this.fc.forward(flat);
    releaseIntermediate(flat, logits);
    return logits;
  }

  /**
   * Loads ImageNet weights into the backbone (conv1, bn1, layer1–4): every backbone entry must be in
   * `source` with its exact shape; other entries (fc, …) are ignored and returned.
   */
  loadBackbone(source: Map<string, HostTensor>): { ignored: string[] } {
    const backbone = new Set(this.backboneModules().flatMap(([name, m]) => [...m.stateDict(name).keys()]));
    const picked = new Map([...source].filter(([name]) => backbone.has(name)));
    const missing = [...backbone].filter((name) => !picked.has(name));
    if (missing.length) throw new TensorError(`loadBackbone: the source lacks ${missing.length} backbone entries: ${missing.slice(0, 8).join(', ')}`);
    this.loadStateDict(picked, { strict: false });
    return { ignored: [...source.keys()].filter((name) => !backbone.has(name)) };
  }

  /** The backbone's modules (conv1, bn1, layer1–4), the group trained at 0.1× the base LR. */
  backboneModules(): [string, Module][] {
    return [
      ['conv1', this.conv1],
      ['bn1', this.bn1],
      ['layer1', this.layer1],
      ['layer2', this.layer2],
      ['layer3', this.layer3],
      ['layer4', this.layer4],
    ];
  }
}

export interface NamedParamGroup {
  name: string;
  /** Multiplies the base learning rate. */
  lrScale: number;
  /** Trainable parameters only (frozen BN affine parameters take no gradient and are left out). */
  params: [string, Tensor][];
}

function trainable(prefix: string, module: Module): [string, Tensor][] {
  return module.namedParameters(prefix).filter(([, p]) => p.requiresGrad);
}

/** The recipe's backbone learning-rate multiplier (`--factor`). */
export const BACKBONE_LR_FACTOR = 0.1;

/**
 * Recipe §3: backbone (conv1, bn1, layer1–4) at `factor`× the base LR, the task head `fc_new` at the
 * base LR, plus any `extra` modules at the base LR (CSG's fc_csg for classification).
 */
export function headParamGroups(
  model: ResNet & { fc_new: Module },
  { factor = BACKBONE_LR_FACTOR, extra = [], prefix = '' }: { factor?: number; extra?: [string, Module][]; prefix?: string } = {},
): NamedParamGroup[] {
  const key = (name: string): string => (prefix ? `${prefix}.${name}` : name);
  const groups: NamedParamGroup[] = [
    { name: 'backbone', lrScale: factor, params: model.backboneModules().flatMap(([name, m]) => trainable(key(name), m)) },
    { name: 'head', lrScale: 1, params: trainable(key('fc_new'), model.fc_new) },
  ];
  for (const [name, m] of extra) groups.push({ name, lrScale: 1, params: trainable(key(name), m) });
  return groups;
}
