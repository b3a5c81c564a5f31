// Whole models: DeepLab-ResNet-50 (3.4.6.3, width 64, head 256, 19 classes) at 128×128, batch 2 —
// an inference forward, and one full CSG training step as training runs it (CsgTrainStep: EMA, student
// forward + backward, student and teacher passes on im_k, heads, InfoNCE against K = 65536, SGD) —
// and the size ladder: both at 64², 128², 256² and 512², batch 1 and 2 (the step at batch 2 only: ASPP's
// image pooling ends in a training-mode batch norm, which needs two images), after a warm-up, the median
// of 3 iterations up to 128² and one at 256² and 512².
// FLOPs count the convolutions and matrix products (2 per multiply-add); the PyTorch peer runs the
// same model and step in plain torch (kernels-test/fixtures/make_csg_step.py) on 2 CPU threads.
// Peak memory: ours is the buffer pool's high-water mark from setup (weights, packings, activations);
// PyTorch's is its process's peak RSS above what it held before building the model.
import { fileURLToPath } from 'node:url';
import { Tensor, scope } from '../../src/tensor/index.js';
import { noGrad } from '../../src/autograd/index.js';
import { convGeometry } from '../../src/ops/index.js';
import { DeepLabResNet, Aspp, AsppPooling, type DeepLabHead } from '../../src/nn/deeplab.js';
import type { Conv2d, Sequential } from '../../src/nn/layers.js';
import type { Bottleneck, ResNet } from '../../src/nn/resnet.js';
import { CsgDeepLab, CSG_DIM, CSG_QUEUE_SIZE } from '../../src/csg/model.js';
import { CsgTrainStep } from '../../src/train/step.js';
import type { BenchCase } from '../harness.js';
import { torchPeer } from '../peers.js';

const LAYERS = [3, 4, 6, 3];
const WIDTH = 64;
const HEAD_WIDTH = 256;
const CLASSES = 19;
const CHUNKS = 8;
const LADDER_SIZES = [64, 128, 256, 512];
const LADDER_BATCHES = [1, 2];

export type Shape4 = [number, number, number, number];

/** 2·MACs of a convolution on input `x`, and its output shape. */
function conv(c: Conv2d, x: Shape4): { flops: number; out: Shape4 } {
  const g = convGeometry(x, c.weight.shape, { stride: c.stride, padding: c.padding, dilation: c.dilation });
  return { flops: 2 * g.n * g.o * g.ho * g.wo * g.c * g.kh * g.kw, out: [g.n, g.o, g.ho, g.wo] };
}

/** Convolutions of the backbone up to layer4 (stem, maxpool 3×3/2 pad 1, bottlenecks with their downsample). */
function backboneFlops(net: ResNet, input: Shape4): { flops: number; layer3: Shape4; layer4: Shape4 } {
  let { flops, out: x } = conv(net.conv1, input);
  x = [x[0], x[1], Math.floor((x[2] - 1) / 2) + 1, Math.floor((x[3] - 1) / 2) + 1];
  const outs: Shape4[] = [];
  for (const layer of [net.layer1, net.layer2, net.layer3, net.layer4]) {
    for (const block of layer.items as Bottleneck[]) {
      const a = conv(block.conv1, x);
      const b = conv(block.conv2, a.out);
      const c = conv(block.conv3, b.out);
      flops += a.flops + b.flops + c.flops + (block.downsample ? conv(block.downsample.items[0] as Conv2d, x).flops : 0);
      x = c.out;
    }
    outs.push(x);
  }
  return { flops, layer3: outs[2]!, layer4: outs[3]! };
}

/** Convolutions of the segmentation head on the layer4 map (the pooling branch's conv runs on 1×1). */
function headFlops(head: DeepLabHead, x: Shape4): number {
  const aspp = head.items[0] as Aspp;
  let flops = 0;
  for (const branch of aspp.convs.items as Sequential[]) {
    flops += branch instanceof AsppPooling ? conv(branch.items[1] as Conv2d, [x[0], x[1], 1, 1]).flops : conv(branch.items[0] as Conv2d, x).flops;
  }
  const project = conv(aspp.project.items[0] as Conv2d, [x[0], HEAD_WIDTH * aspp.convs.items.length, x[2], x[3]]);
  const mid = conv(head.items[1] as Conv2d, project.out);
  return flops + project.flops + mid.flops + conv(head.items[4] as Conv2d, mid.out).flops;
}

function forwardFlops(net: DeepLabResNet, input: Shape4): number {
  const b = backboneFlops(net, input);
  return b.flops + headFlops(net.fc_new.conv2d_list.items[0]!, b.layer4);
}

/**
 * A training step ≈ 3× the student's forward (forward + backward), the student's and the teacher's
 * backbone passes on im_k, and per stage the projection heads (query: forward + backward; key: forward)
 * and InfoNCE's q·queue product (forward, and backward for the query's gradient).
 */
function trainStepFlops(model: CsgDeepLab, input: Shape4): number {
  const net = model.encoder_q;
  const backbone = backboneFlops(net, input);
  let flops = 3 * forwardFlops(net, input) + 2 * backbone.flops;
  for (const [shape, c] of [
    [backbone.layer3, net.channels.layer3],
    [backbone.layer4, net.channels.layer4],
  ] as const) {
    // PyTorch chunk semantics: pieces of ceil(side / chunks), so possibly fewer than `chunks` per side.
    const pieces = (side: number) => Math.ceil(side / Math.ceil(side / CHUNKS));
    const vectors = input[0] * pieces(shape[2]) * pieces(shape[3]);
    const head = 2 * vectors * c * (c + model.dim);
    flops += 3 * head + head + 2 * 2 * vectors * model.dim * (model.queueSize + 1);
  }
  return flops;
}

const seeded = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 1.5);

/** The ResNet of a case: blocks per stage (R50 3.4.6.3, R101 3.4.23.3) and keys per queue. */
export interface StepModel {
  layers: number[];
  queueSize: number;
}
const R50: StepModel = { layers: LAYERS, queueSize: CSG_QUEUE_SIZE };

const FIXTURES = fileURLToPath(new URL('../../kernels-test/fixtures/', import.meta.url));
/** The PyTorch peer's set-up: the model, a batch and the recipe's step settings. */
export const torchPrelude = (input: Shape4, { layers, queueSize }: StepModel = R50): string => [
  `sys.path.insert(0, ${JSON.stringify(FIXTURES)})`,
  'import make_csg_step as S',
  'from make_models import CsgDeepLab',
  `model = CsgDeepLab(${JSON.stringify(layers)}, ${WIDTH}, ${HEAD_WIDTH}, ${CLASSES}, ${CSG_DIM}, ${queueSize})`,
  'model.encoder_k.load_state_dict(model.encoder_q.state_dict())',
  `im_q = torch.randn(${input.join(', ')})`,
  'im_k = im_q * 0.8 + 0.3 * torch.randn(im_q.shape)',
  `label = torch.randint(0, ${CLASSES}, (${input[0]}, ${input[2]}, ${input[3]}))`,
  `cfg = S.Recipe(chunks=${CHUNKS}, lam=75.0, tau=0.07, ema=0.999, lr=1e-3, factor=0.1, iters_max=1000, dropout=0.5, queue_size=${queueSize})`,
  'momentum = {}',
  'model.encoder_q.eval()',
].join('\n');

/** The inference forward of DeepLab-R50 on `input` (no gradients, eval mode). */
function forwardCase(name: string, input: Shape4, iterations: number): BenchCase {
  let model: DeepLabResNet | null = null;
  let images: Tensor | null = null;
  const c: BenchCase = {
    name,
    shape: `R50 OS8 [${input.join(', ')}]`,
    memory: true,
    iterations,
    setup: () => {
      model = new DeepLabResNet({ layers: LAYERS, width: WIDTH, headWidth: HEAD_WIDTH, classes: CLASSES }).eval();
      c.flops = forwardFlops(model, input);
      images = Tensor.from(seeded(input.reduce((a, b) => a * b), 0), input).keep();
      return () => noGrad(() => scope(() => void model!.forward(images!)));
    },
    dispose: () => {
      model?.dispose();
      images?.dispose();
    },
    peer: torchPeer(torchPrelude(input), 'with torch.no_grad(): model.encoder_q(im_q)'),
  };
  return c;
}

export const STEP_TORCH_STATEMENT = 'S.csg_step(model, momentum, im_q, im_k, label, 50, cfg, inspect=False)';

const resnetName = (layers: number[]) => `R${2 + 3 * layers.reduce((a, b) => a + b, 0)}`;

/** One CSG training step (CsgTrainStep) of DeepLab-R50 (or `model`'s ResNet) on `input` against K keys (65536). */
export function stepCase(name: string, input: Shape4, iterations: number, model: StepModel = R50): BenchCase {
  let csg: CsgDeepLab | null = null;
  let step: CsgTrainStep | null = null;
  const [n, , height, width] = input;
  const c: BenchCase = {
    name,
    shape: `${resnetName(model.layers)} OS8 [${input.join(', ')}] K ${model.queueSize}`,
    memory: true,
    iterations,
    setup: () => {
      csg = new CsgDeepLab({ layers: model.layers, width: WIDTH, headWidth: HEAD_WIDTH, classes: CLASSES, queueSize: model.queueSize });
      csg.syncTeacher();
      c.flops = trainStepFlops(csg, input);
      step = new CsgTrainStep(csg, { lambda: 75, stages: [3, 4], chunks: CHUNKS, tau: 0.07, emaMomentum: 0.999, apool: true, mlp: true, baseLr: 1e-3, backboneFactor: 0.1, itersMax: 1000, warmup: 100 });
      const values = input.reduce((a, b) => a * b);
      const batch = {
        n,
        height,
        width,
        images: seeded(values, 0),
        keys: seeded(values, 1),
        labels: Int32Array.from({ length: n * height * width }, (_, i) => (i % 11 === 0 ? 255 : i % CLASSES)),
      };
      return async () => void (await step!.run(50, batch));
    },
    dispose: () => {
      step?.dispose();
      csg?.dispose();
    },
    peer: torchPeer(torchPrelude(input, model), STEP_TORCH_STATEMENT),
  };
  return c;
}

export function modelCases(): BenchCase[] {
  const ladder = LADDER_SIZES.flatMap((size) =>
    LADDER_BATCHES.flatMap((batch): BenchCase[] => {
      const input: Shape4 = [batch, 3, size, size];
      // The median of 3 where an iteration takes seconds at most; one at 256² and 512² (minutes).
      const iterations = size <= 128 ? 3 : 1;
      const forward = forwardCase(`ladder forward ${size}² b${batch}`, input, iterations);
      return batch < 2 ? [forward] : [forward, stepCase(`ladder step ${size}² b${batch}`, input, iterations)];
    }),
  );
  return [forwardCase('deeplab50 forward', [2, 3, 128, 128], 3), stepCase('csg train step', [2, 3, 128, 128], 3), ...ladder];
}
