// The layers the models are built from, each a thin module over one op of src/ops, with PyTorch's
// parameter names, buffer names and default initialisation.
import { Tensor, Mulberry32, recordsGradient } from '../tensor/index.js';
import { conv2d, batchNorm2d, foldBatchNorm, linear, relu, maxPool2d, globalAvgPool, dropout } from '../ops/index.js';
import { Module, IntScalar, releaseIntermediate, type Layer } from './module.js';

const { imul } = Math; // looked up once (slow per call under jest's sandbox)

/** Seeded parameter initialiser (Mulberry32), so a model built twice with one seed is identical. */
export class ParamInit extends Mulberry32 {
  /** U(−bound, bound), PyTorch's default for conv/linear weights (kaiming_uniform, a = √5) and biases. */
  uniform(shape: number[], bound: number): Tensor {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (2 * this.next() - 1) * bound;
    return Tensor.from(data, shape);
  }
}

function constant(shape: number[], value: number): Tensor {
  return Tensor.from(new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(value), shape);
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  bias?: boolean;
}

export class Conv2d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    options: Conv2dOptions,
    init: ParamInit,
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    const bound = 1 / Math.sqrt(inChannels * kernel * kernel);
    this.weight = this.param('weight', init.uniform([outChannels, inChannels, kernel, kernel], bound));
    this.bias = options.bias ? this.param('bias', init.uniform([outChannels], bound)) : null;
  }
  // x [N, C, H, W] → [N, O, Ho, Wo]
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }

  /**
   * Whether forwardWithNorm(x, bn) stands for forward then bn: the norm in eval mode (evaluation,
   * prediction, CSG's teacher) and no gradient flowing. Folding moves the last bits of the result.
   */
  foldsWith(x: Tensor, bn: BatchNorm2d): boolean {
    return !bn.training && !recordsGradient([x, this.weight, ...(this.bias ? [this.bias] : []), bn.weight, bn.bias]);
  }

  // x [N, C, H, W] → bn(conv(x)) [N, O, Ho, Wo]
  /**
   * This convolution and the batch norm after it as one convolution (foldBatchNorm), its weights kept
   * with this weight until it or one of the norm's tensors is written: frozen and evaluated models
   * skip the norm's pass over the activations.
   */
  forwardWithNorm(x: Tensor, bn: BatchNorm2d): Tensor {
    const sources = [bn.weight, bn.bias, bn.runningMean, bn.runningVar, ...(this.bias ? [this.bias] : [])];
    const biasKey = 'batch norm folded bias';
    // One fold makes both: the weight's derivation keeps the bias beside it under the same versions
    // (the CSG teacher is folded again after every EMA update).
    const weight = this.weight.derived(
      'batch norm folded weight',
      () => {
        const both = foldBatchNorm(this.weight, this.bias, bn);
        if (this.weight.derived(biasKey, () => both.bias, sources) !== both.bias) both.bias.dispose();
        return both.weight;
      },
      sources,
    );
    const bias = this.weight.derived(
      biasKey,
      () => {
        const both = foldBatchNorm(this.weight, this.bias, bn);
        both.weight.dispose();
        return both.bias;
      },
      sources,
    );
    return conv2d(x, weight, bias, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }
}

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
  /** Frozen: always normalises with the running statistics, and its affine parameters take no gradient. */
  frozen?: boolean;
}

export class BatchNorm2d extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: IntScalar;
  readonly eps: number;
  readonly momentum: number;
  frozen = false;
  constructor(readonly channels: number, options: BatchNorm2dOptions = {}) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.param('weight', constant([channels], 1));
    this.bias = this.param('bias', constant([channels], 0));
    this.runningMean = this.buffer('running_mean', constant([channels], 0));
    this.runningVar = this.buffer('running_var', constant([channels], 1));
    this.numBatchesTracked = this.buffer('num_batches_tracked', new IntScalar(0));
    if (options.frozen) this.freeze();
  }
  freeze(): this {
    this.frozen = true;
    this.weight.requiresGrad = false;
    this.bias.requiresGrad = false;
    return this;
  }
  /** Whether forward uses batch statistics (and updates the running ones). */
  get usesBatchStats(): boolean {
    return this.training && !this.frozen;
  }
  // x [N, C, H, W] → [N, C, H, W]
  forward(x: Tensor): Tensor {
    const training = this.usesBatchStats;
    if (training) this.numBatchesTracked.value++;
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training,
      momentum: this.momentum,
      eps: this.eps,
      affineGrad: this.weight.requiresGrad || this.bias.requiresGrad,
    });
  }
}

export class Linear extends Module implements Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean },
    init: ParamInit,
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', init.uniform([outFeatures, inFeatures], bound));
    this.bias = (options.bias ?? true) ? this.param('bias', init.uniform([outFeatures], bound)) : null;
  }
  // x [N, in] → [N, out]
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class ReLU extends Module implements Layer {
  // x [...] → [...]
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class MaxPool2d extends Module implements Layer {
  constructor(readonly options: { kernel: number; stride: number; padding: number }) {
    super();
  }
  // x [N, C, H, W] → [N, C, Ho, Wo]
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

/** nn.AdaptiveAvgPool2d(1): [N,C,H,W] → [N,C,1,1]. */
export class GlobalAvgPool extends Module implements Layer {
  // x [N, C, H, W] → [N, C, 1, 1]
  forward(x: Tensor): Tensor {
    return globalAvgPool(x);
  }
}

// Dropout masks are seeded from one counter for the whole process, saved with checkpoints, so a
// resumed run draws the same masks as an uninterrupted one.
const dropoutSeeds = { base: 0, calls: 0 };

export function dropoutSeedState(): { base: number; calls: number } {
  return { ...dropoutSeeds };
}

export function setDropoutSeedState(state: { base: number; calls: number }): void {
  dropoutSeeds.base = state.base >>> 0;
  dropoutSeeds.calls = state.calls;
}

function nextDropoutSeed(): number {
  const seed = (dropoutSeeds.base + imul(dropoutSeeds.calls, 0x9e3779b1)) >>> 0;
  dropoutSeeds.calls++;
  return seed;
}

export class Dropout extends Module implements Layer {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }
  // x [...] → [...]
  /** In eval mode (or p = 0) the input itself comes back. */
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? dropout(x, this.p, nextDropoutSeed()) : x;
  }
}

/** nn.ModuleList: children named 0, 1, 2, …; no forward. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
}

/**
 * Applies layers in order, freeing what lies between them when it is off the tape (never the input).
 * A convolution followed by a batch norm runs as one folded convolution in eval mode where no
 * gradient flows (Conv2d.foldsWith, forwardWithNorm).
 */
export function chain(input: Tensor, layers: readonly Layer[]): Tensor {
  let x = input;
  for (let i = 0; i < layers.length; i++) {
    const [layer, next] = [layers[i]!, layers[i + 1]];
    const fold = layer instanceof Conv2d && next instanceof BatchNorm2d && layer.foldsWith(x, next);
    const y = fold ? layer.forwardWithNorm(x, next) : layer.forward(x);
    if (fold) i++;
    if (x !== input) releaseIntermediate(x, y);
    x = y;
  }
  return x;
}

/** nn.Sequential: children named 0, 1, 2, …, applied in order. */
export class Sequential extends ModuleList<Layer> implements Layer {
  // input → each child in turn → output
  forward(input: Tensor): Tensor {
    return chain(input, this.items);
  }
}
