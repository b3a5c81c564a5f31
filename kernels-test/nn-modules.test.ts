// Module tree, state_dict names (against PyTorch), loading by name, training modes and parameter
// groups of src/nn and src/csg/model.ts. Parameter allocation and buffer copies only: no model op runs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, scope } from '../src/tensor/index.js';
import { gpu } from '../src/gpu/index.js';
import { backward, noGrad } from '../src/autograd/index.js';
import { sumAll } from '../src/ops/index.js';
import {
  BatchNorm2d,
  Bottleneck,
  Conv2d,
  DeepLabResNet,
  Dropout,
  IntScalar,
  ReLU,
  ResNet,
  Sequential,
  parseLayers,
  dropoutSeedState,
  setDropoutSeedState,
  type Module,
  type HostTensor,
} from '../src/nn/index.js';
import { CsgDeepLab, CsgClassifier } from '../src/csg/model.js';
import { useGpu, expectClose, randn } from './helpers.js';
import { MODEL_FIXTURES, readFixture } from './model-fixtures.js';

useGpu();

type Entry = [string, number[], string];
const names = JSON.parse(readFileSync(join(MODEL_FIXTURES, 'state_dict_names.json'), 'utf8')) as Record<string, { entries: Entry[] }>;

function entriesOf(model: Module): Entry[] {
  return [...model.stateDict()].map(([name, v]) => [name, [...v.shape], v instanceof Tensor ? 'F32' : 'I64']);
}

function expectSameEntries(ours: Entry[], theirs: Entry[]): void {
  const theirNames = new Set(theirs.map(([n]) => n));
  const ourNames = new Set(ours.map(([n]) => n));
  expect(ours.filter(([n]) => !theirNames.has(n)).map(([n]) => n)).toEqual([]);
  expect(theirs.filter(([n]) => !ourNames.has(n)).map(([n]) => n)).toEqual([]);
  expect(ours).toEqual(theirs); // names, order, shapes and dtypes
}

const smallConfig = { layers: [1, 1, 1, 1], width: 8, headWidth: 32, classes: 19 };

function smallWeights(): Map<string, HostTensor> {
  return readFixture(join(MODEL_FIXTURES, 'deeplab_small.weights.safetensors')).tensors as Map<string, HostTensor>;
}

/** Runs fn on a fresh model and frees the model's tensors afterwards. */
async function withModel<M extends Module>(model: M, fn: (m: M) => void | Promise<void>): Promise<void> {
  try {
    await fn(model);
  } finally {
    model.dispose();
  }
}

describe('state_dict names and shapes match PyTorch', () => {
  test('DeepLab-ResNet-50 (19 classes)', () =>
    withModel(new DeepLabResNet({ layers: parseLayers('3.4.6.3') }), (model) => {
      expectSameEntries(entriesOf(model), names['deeplab-resnet50']!.entries);
      expect(model.stateDict().has('fc_new.conv2d_list.0.0.convs.0.0.weight')).toBe(true);
      expect(model.stateDict().has('fc_new.conv2d_list.0.0.convs.4.1.weight')).toBe(true);
      expect(model.stateDict().has('fc_new.conv2d_list.0.4.bias')).toBe(true);
    }));

  test('DeepLab-ResNet-101 (19 classes)', () =>
    withModel(new DeepLabResNet({ layers: [3, 4, 23, 3] }), (model) => expectSameEntries(entriesOf(model), names['deeplab-resnet101']!.entries)));

  test('CSG wrapper: queues, encoder_q./encoder_k. prefixes, fc and fc_csg heads', () =>
    withModel(new CsgDeepLab({ layers: [1, 1, 1, 1], width: 16, headWidth: 32, queueSize: 256 }), (model) => {
      expectSameEntries(entriesOf(model), names['csg-small']!.entries);
      expect(model.queue3.name).toBe('queue3');
      expect(model.encoder_k.fc_csg.stage4.items[2]!.parameters()[0]!.name).toBe('encoder_k.fc_csg.stage4.2.weight');
    }));

  for (const [key, layers, classes] of [['csg-classifier-resnet101', [3, 4, 23, 3], 12], ['csg-classifier-resnet50', [3, 4, 6, 3], 10]] as const) {
    test(`classification CSG wrapper (${key}): fc_new.{0,2}, fc, fc_csg, queues`, () =>
      withModel(new CsgClassifier({ layers, classes, queueSize: 256 }), (model) => {
        expectSameEntries(entriesOf(model), names[key]!.entries);
        const dict = model.stateDict();
        expect(dict.get('encoder_q.fc_new.0.weight')!.shape).toEqual([512, 2048]);
        expect(dict.get('encoder_q.fc_new.2.weight')!.shape).toEqual([classes, 512]);
        expect(dict.get('encoder_k.fc_csg.stage3.2.weight')!.shape).toEqual([128, 1024]);
        // Standard strides (torchvision): the stride sits on the 3×3 conv.
        const block = model.encoder_q.layer2.items[0] as Bottleneck;
        expect([block.conv1.stride, block.conv2.stride]).toEqual([1, 2]);
      }));
  }
});

describe('loading a state dict by name', () => {
  test('the PyTorch fixture loads strictly and reads back exactly', () =>
    withModel(new DeepLabResNet(smallConfig), async (model) => {
      const source = smallWeights();
      expect(model.loadStateDict(source)).toEqual({ missing: [], unexpected: [] });
      const back = await model.exportStateDict();
      expect([...back.keys()].sort()).toEqual([...source.keys()].sort());
      for (const [name, entry] of back) {
        const src = source.get(name)!;
        expect(entry.shape).toEqual([...src.shape]);
        if (entry.dtype === 'I64') expect(entry.data[0]).toBe(7n);
        else expectClose(entry.data as Float32Array, src.data as Float32Array, { atol: 0, rtol: 0 }, name);
      }
      expect(model.bn1.numBatchesTracked.value).toBe(7);
    }));

  test('a shape mismatch names the tensor and both shapes', () =>
    withModel(new DeepLabResNet(smallConfig), (model) => {
      const source = smallWeights();
      expect(source.get('layer2.0.conv2.weight')!.shape).toEqual([16, 16, 3, 3]);
      source.set('layer2.0.conv2.weight', { shape: [16, 32, 3, 3], data: new Float32Array(16 * 32 * 9) });
      expect(() => model.loadStateDict(source)).toThrow("'layer2.0.conv2.weight' has shape [16, 32, 3, 3] in the source, [16, 16, 3, 3] in the model");
    }));

  test('strict loading lists missing and unexpected entries; non-strict returns them', () =>
    withModel(new DeepLabResNet(smallConfig), (model) => {
      const source = smallWeights();
      source.delete('fc_new.conv2d_list.0.4.bias');
      source.set('fc.weight', { shape: [1000, 256], data: new Float32Array(256000) });
      expect(() => model.loadStateDict(source)).toThrow('loadStateDict: missing fc_new.conv2d_list.0.4.bias; unexpected fc.weight');
      expect(model.loadStateDict(source, { strict: false })).toEqual({ missing: ['fc_new.conv2d_list.0.4.bias'], unexpected: ['fc.weight'] });
    }));

  test('loadBackbone takes conv1/bn1/layer1–4 of an ImageNet-style dict and ignores fc; missing backbone entries are an error', () =>
    withModel(new CsgDeepLab({ layers: [1, 1, 1, 1], width: 8, headWidth: 32, queueSize: 16 }), async (model) => {
      const source = new Map([...smallWeights()].filter(([n]) => !n.startsWith('fc_new.')));
      source.set('fc.weight', { shape: [1000, 256], data: new Float32Array(256000) });
      source.set('fc.bias', { shape: [1000], data: new Float32Array(1000) });
      expect(model.encoder_q.loadBackbone(source)).toEqual({ ignored: ['fc.weight', 'fc.bias'] });
      const w = source.get('layer3.0.conv2.weight')!;
      expectClose(await (model.encoder_q.layer3.stateDict().get('0.conv2.weight') as Tensor).read(), w.data as Float32Array, { atol: 0, rtol: 0 });
      source.delete('layer4.0.bn3.running_var');
      expect(() => model.encoder_q.loadBackbone(source)).toThrow('loadBackbone: the source lacks 1 backbone entries: layer4.0.bn3.running_var');
    }));

  test('a source whose data does not fill its shape is rejected', () => {
    const bn = new BatchNorm2d(4);
    try {
      const bad = { weight: { shape: [4], data: [1, 2, 3] }, bias: { shape: [4], data: [0, 0, 0, 0] } };
      const rest = { running_mean: { shape: [4], data: [0, 0, 0, 0] }, running_var: { shape: [4], data: [1, 1, 1, 1] }, num_batches_tracked: { shape: [], data: [0] } };
      expect(() => bn.loadStateDict({ ...bad, ...rest })).toThrow("'weight' holds 3 values for shape [4]");
    } finally {
      bn.dispose();
    }
  });
});

describe('architecture', () => {
  function convs(model: ResNet, layer: 'layer1' | 'layer2' | 'layer3' | 'layer4'): { conv1: Conv2d; conv2: Conv2d; down: Conv2d | null }[] {
    return model[layer].items.map((b) => {
      const block = b as unknown as { conv1: Conv2d; conv2: Conv2d; downsample: Sequential | null };
      return { conv1: block.conv1, conv2: block.conv2, down: (block.downsample?.items[0] as Conv2d | undefined) ?? null };
    });
  }

  test('output stride 8: layer3 dilation 2 (block 0: 1), layer4 dilation 4 (block 0: 2), padding = dilation, no stride', () => {
    const model = new DeepLabResNet({ layers: [2, 2, 3, 2], width: 4, headWidth: 8 });
    try {
      const l3 = convs(model, 'layer3');
      const l4 = convs(model, 'layer4');
      expect(l3.map((b) => [b.conv2.dilation, b.conv2.padding, b.conv2.stride])).toEqual([[1, 1, 1], [2, 2, 1], [2, 2, 1]]);
      expect(l4.map((b) => [b.conv2.dilation, b.conv2.padding, b.conv2.stride])).toEqual([[2, 2, 1], [4, 4, 1]]);
      expect(convs(model, 'layer2')[0]!.conv2.stride).toBe(2);
      for (const layer of ['layer1', 'layer2', 'layer3', 'layer4'] as const) {
        const blocks = convs(model, layer);
        expect(blocks[0]!.down).not.toBeNull();
        expect(blocks.slice(1).every((b) => b.down === null)).toBe(true);
      }
      expect([convs(model, 'layer3')[0]!.down!.stride, convs(model, 'layer2')[0]!.down!.stride]).toEqual([1, 2]);
      const aspp = model.fc_new.conv2d_list.items[0]!.items[0] as unknown as { convs: { items: Sequential[] } };
      expect(aspp.convs.items.slice(1, 4).map((s) => (s.items[0] as Conv2d).dilation)).toEqual([12, 24, 36]);
    } finally {
      model.dispose();
    }
  });

  test('strideIn1x1 moves the stride to the first 1×1; standard ResNet keeps stride 2 in layer3/4', () => {
    const caffe = new ResNet({ layers: [1, 1, 1, 1], width: 4, strideIn1x1: true });
    try {
      for (const layer of ['layer2', 'layer3', 'layer4'] as const) {
        const [b] = convs(caffe, layer);
        expect([b!.conv1.stride, b!.conv2.stride, b!.conv2.dilation, b!.down!.stride]).toEqual([2, 1, 1, 2]);
      }
      expect(caffe.stateDict().has('fc.weight')).toBe(false);
    } finally {
      caffe.dispose();
    }
  });

  test('narrow widths scale every stage; bad block counts are rejected', () => {
    const model = new ResNet({ layers: [1, 1, 1, 1], width: 16, fcOut: 10 });
    try {
      expect(model.channels).toEqual({ layer3: 256, layer4: 512 });
      expect(model.fc!.weight.shape).toEqual([10, 512]);
    } finally {
      model.dispose();
    }
    const deeplab = new DeepLabResNet({ layers: [1, 1, 1, 1], width: 4, headWidth: 8 });
    try {
      const grey = Tensor.from(new Float32Array(2 * 32 * 32), [2, 1, 32, 32]);
      expect(() => deeplab.forward(grey)).toThrow('expected images [N, 3, H, W], got [2, 1, 32, 32]');
      grey.dispose();
    } finally {
      deeplab.dispose();
    }
    expect(() => parseLayers('3.4.6')).toThrow('expected four positive block counts like 3.4.6.3');
    expect(() => parseLayers('3.0.6.3')).toThrow('3.0.6.3');
    expect(parseLayers('1.1.1.1')).toEqual([1, 1, 1, 1]);
  });

  test('initialisation is seeded and within PyTorch default bounds; BN starts at weight 1, bias 0', async () => {
    const a = new DeepLabResNet({ ...smallConfig, seed: 5 });
    const b = new DeepLabResNet({ ...smallConfig, seed: 5 });
    const c = new DeepLabResNet({ ...smallConfig, seed: 6 });
    try {
      const wa = await a.layer3.items[0]!.parameters()[0]!.readFloat32();
      expect(Array.from(await b.layer3.items[0]!.parameters()[0]!.readFloat32())).toEqual(Array.from(wa));
      expect(Array.from(await c.layer3.items[0]!.parameters()[0]!.readFloat32())).not.toEqual(Array.from(wa));
      const conv2 = (a.layer3.items[0] as unknown as { conv2: Conv2d }).conv2;
      const w = await conv2.weight.readFloat32();
      const bound = 1 / Math.sqrt(conv2.inChannels * 9);
      const maxAbs = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
      expect(maxAbs).toBeLessThanOrEqual(bound);
      expect(maxAbs).toBeGreaterThan(0.9 * bound);
      expect(variance).toBeGreaterThan(0.8 * (bound * bound) / 3);
      expect(variance).toBeLessThan(1.2 * (bound * bound) / 3);
      expect(Array.from(await a.bn1.weight.read())).toEqual(new Array(8).fill(1));
      expect(Array.from(await a.bn1.runningVar.read())).toEqual(new Array(8).fill(1));
    } finally {
      a.dispose();
      b.dispose();
      c.dispose();
    }
  });
});

describe('training modes and parameter groups (recipe §1, §3)', () => {
  test('train(): backbone BN frozen, head BN and dropout in training mode; eval(): all off', () => {
    const model = new DeepLabResNet(smallConfig);
    try {
      model.train();
      const bns = model.namedModules().filter(([, m]) => m instanceof BatchNorm2d) as [string, BatchNorm2d][];
      const head = bns.filter(([n]) => n.startsWith('fc_new.'));
      const backbone = bns.filter(([n]) => !n.startsWith('fc_new.'));
      expect(head.length).toBe(7);
      expect(backbone.length).toBe(1 + 4 * 4);
      expect(backbone.every(([, bn]) => !bn.usesBatchStats && !bn.weight.requiresGrad && !bn.bias.requiresGrad)).toBe(true);
      expect(head.every(([, bn]) => bn.usesBatchStats && bn.weight.requiresGrad && bn.bias.requiresGrad)).toBe(true);
      const dropouts = model.namedModules().filter(([, m]) => m instanceof Dropout) as [string, Dropout][];
      expect(dropouts.map(([n, d]) => [n, d.p, d.training])).toEqual([['fc_new.conv2d_list.0.0.project.3', 0.5, true]]);
      model.eval();
      expect(bns.some(([, bn]) => bn.usesBatchStats)).toBe(false);
      expect(dropouts[0]![1].training).toBe(false);
      expect(model.conv1.weight.requiresGrad).toBe(true);
    } finally {
      model.dispose();
    }
  });

  test('groups: backbone conv1/bn1/layer1–4 at 0.1×, fc_new at 1×, fc_csg in none for segmentation', () => {
    const model = new CsgDeepLab({ layers: [1, 1, 1, 1], width: 8, headWidth: 16, queueSize: 16 });
    try {
      const groups = model.paramGroups();
      expect(groups.map((g) => [g.name, g.lrScale])).toEqual([['backbone', 0.1], ['head', 1]]);
      const [backbone, head] = groups.map((g) => g.params.map(([n]) => n));
      const trainable = model.encoder_q.namedParameters('encoder_q').filter(([, p]) => p.requiresGrad);
      expect(backbone!.every((n) => /^encoder_q\.(conv1|layer[1-4])\./.test(n))).toBe(true);
      expect(backbone).toContain('encoder_q.conv1.weight');
      expect(backbone).toContain('encoder_q.layer4.0.downsample.0.weight');
      expect(head!.every((n) => n.startsWith('encoder_q.fc_new.'))).toBe(true);
      expect(head).toContain('encoder_q.fc_new.conv2d_list.0.2.weight');
      const grouped = new Set([...backbone!, ...head!]);
      const left = trainable.map(([n]) => n).filter((n) => !grouped.has(n));
      expect(left.every((n) => n.startsWith('encoder_q.fc_csg.') || n.startsWith('encoder_q.fc.'))).toBe(true);
      expect(left).toContain('encoder_q.fc_csg.stage3.0.weight');
      for (const [name, p] of groups.flatMap((g) => g.params)) expect([name, p.name]).toEqual([name, name]);
      const cls = model.paramGroups({ trainCsgHeads: true });
      expect(cls.map((g) => [g.name, g.lrScale, g.params.length])).toEqual([['backbone', 0.1, backbone!.length], ['head', 1, head!.length], ['fc_csg', 1, 8]]);
    } finally {
      model.dispose();
    }
  });

  test('classification (recipe §5): the student trains in eval mode; backbone with its BN affine at factor×, fc_new and fc_csg at 1×', () => {
    const model = new CsgClassifier({ layers: [1, 1, 1, 1], width: 8, classes: 10, queueSize: 16 });
    try {
      model.train();
      expect(model.training).toBe(true);
      expect(model.encoder_q.namedModules().some(([, m]) => m.training)).toBe(false);
      const groups = model.paramGroups({ backboneFactor: 0.25 });
      expect(groups.map((g) => [g.name, g.lrScale])).toEqual([['backbone', 0.25], ['head', 1], ['fc_csg', 1]]);
      const [backbone, head, heads] = groups.map((g) => g.params.map(([n]) => n));
      // The reference's get_params takes every parameter of conv1/bn1/layer1–4, BN affine included.
      expect(backbone).toContain('encoder_q.bn1.weight');
      expect(backbone).toContain('encoder_q.layer4.0.bn3.bias');
      expect(head).toEqual(['encoder_q.fc_new.0.weight', 'encoder_q.fc_new.0.bias', 'encoder_q.fc_new.2.weight', 'encoder_q.fc_new.2.bias']);
      expect(heads!.length).toBe(8);
      const pairs = model.backbonePairs();
      expect(pairs.length).toBe(backbone!.length);
      expect(pairs.every(([q, k]) => k.name === q.name.replace('encoder_q.', 'encoder_k.'))).toBe(true);
    } finally {
      model.dispose();
    }
  });

  test('dropout seeds come from one counter that can be saved and restored', () => {
    const saved = dropoutSeedState();
    setDropoutSeedState({ base: 11, calls: 40 });
    expect(dropoutSeedState()).toEqual({ base: 11, calls: 40 });
    setDropoutSeedState(saved);
    expect(() => new Dropout(1)).toThrow('p must be in [0, 1)');
  });
});

describe('CSG wrapper', () => {
  test('teacher: no gradients, stays in eval mode; queues are unit columns; pointers are I64 [1]', async () => {
    const model = new CsgDeepLab({ layers: [1, 1, 1, 1], width: 8, headWidth: 16, queueSize: 64, seed: 3 });
    try {
      model.train();
      expect(model.encoder_k.parameters().some((p) => p.requiresGrad)).toBe(false);
      expect(model.encoder_k.namedModules().some(([, m]) => m.training)).toBe(false);
      expect(model.encoder_q.fc_new.training).toBe(true);
      expect(model.queue3.shape).toEqual([128, 64]);
      expect(model.queue_ptr4).toBeInstanceOf(IntScalar);
      expect(model.queue_ptr4.shape).toEqual([1]);
      const q = await model.queue3.readFloat32();
      for (let c = 0; c < 64; c++) {
        let s = 0;
        for (let d = 0; d < 128; d++) s += q[d * 64 + c]! ** 2;
        expect(Math.abs(Math.sqrt(s) - 1)).toBeLessThan(1e-5);
      }
      expect(Array.from(await model.queue4.readFloat32()).slice(0, 8)).not.toEqual(Array.from(q).slice(0, 8));
    } finally {
      model.dispose();
    }
  });

  test('syncTeacher copies the student exactly; emaPairs pairs the projection heads by name', async () => {
    const model = new CsgDeepLab({ layers: [1, 1, 1, 1], width: 8, headWidth: 16, queueSize: 16 });
    try {
      const w = model.encoder_q.layer2.items[0]!.parameters()[1]!;
      const values = Float32Array.from({ length: w.size }, (_, i) => Math.sin(i));
      w.write(values);
      model.encoder_q.bn1.numBatchesTracked.value = 9;
      model.syncTeacher();
      const copy = model.encoder_k.layer2.items[0]!.parameters()[1]!;
      expectClose(await copy.readFloat32(), values, { atol: 0, rtol: 0 }, copy.name);
      expect(model.encoder_k.bn1.numBatchesTracked.value).toBe(9);
      const pairs = model.emaPairs();
      expect(pairs.map(([q, k]) => [q.name, k.name])).toEqual(
        ['stage3.0', 'stage3.2', 'stage4.0', 'stage4.2'].flatMap((s) =>
          ['weight', 'bias'].map((p) => [`encoder_q.fc_csg.${s}.${p}`, `encoder_k.fc_csg.${s}.${p}`]),
        ),
      );
      expect(pairs.every(([q, k]) => q.requiresGrad && !k.requiresGrad)).toBe(true);
    } finally {
      model.dispose();
    }
  });
});

describe('Sequential frees what lies between layers, on the tape only what no backward reads', () => {
  const layers = (): Sequential => new Sequential([new ReLU(), new Dropout(0.5).eval(), new ReLU(), new ReLU()]);
  const data = randn(4 * 64, 21);

  test('without recording, only the input and the output stay allocated', async () => {
    const seq = layers();
    const x = Tensor.from(data, [4, 64]);
    const before = gpu().pool.stats.bytesInUse;
    const y = noGrad(() => seq.forward(x));
    expect(gpu().pool.stats.bytesInUse - before).toBe(1024);
    expect(x.disposed).toBe(false);
    expectClose(await y.readFloat32(), Float32Array.from(data, (v) => Math.max(v, 0)), { atol: 0, rtol: 0 });
    x.dispose();
    y.dispose();
  });

  test('on the tape, intermediates a backward reads (ReLU outputs) live until the backward', async () => {
    const seq = layers();
    const grad = await scope(() => {
      const x = Tensor.from(data, [4, 64]);
      x.requiresGrad = true;
      backward(sumAll(seq.forward(x)));
      return x.grad!;
    }).readFloat32();
    expectClose(grad, Array.from(data, (v) => (v > 0 ? 1 : 0)), { atol: 0, rtol: 0 }, 'gradient through the chain');
  });
});
