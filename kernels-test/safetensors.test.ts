// safetensors reader/writer: round trips of every dtype, files written on PyTorch's side
// (kernels-test/fixtures/make_safetensors.py), and every malformed case → an error naming file and tensor.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertStateDict, compareStateDict, parseSafetensors, serializeSafetensors, tensorEntry, toBigInt64, toFloat32, toInt32, type Dtype, type StateDict, type TensorSpec } from '../src/io/safetensors.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors-file.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'safetensors');

interface ExpectedTensor {
  dtype: Dtype;
  shape: number[];
  values: (number | string)[];
}
const expected: Record<string, { metadata: Record<string, string>; tensors: Record<string, ExpectedTensor> }> = JSON.parse(
  readFileSync(join(FIXTURES, 'expected.json'), 'utf8'),
);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'csg-safetensors-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function everyDtype(): StateDict {
  return new Map([
    ['weights', tensorEntry('F32', [2, 3], Float32Array.from([1.5, -2, 3.25, 0, -0, 1e-30]))],
    ['half', tensorEntry('F16', [3], Uint16Array.from([0x3c00, 0xc000, 0x0001]))],
    ['brain', tensorEntry('BF16', [2], Uint16Array.from([0x3f80, 0xc060]))],
    ['bn.num_batches_tracked', tensorEntry('I64', [], BigInt64Array.from([123456789012345n]))],
    ['queue_ptr3', tensorEntry('I64', [1], BigInt64Array.from([-7n]))],
    ['labels', tensorEntry('I32', [2, 2], Int32Array.from([0, -1, 255, 2147483647]))],
    ['pixels', tensorEntry('U8', [5], Uint8Array.from([0, 1, 2, 254, 255]))],
    ['mask', tensorEntry('BOOL', [3], Uint8Array.from([1, 0, 1]))],
    ['empty', tensorEntry('F32', [0, 4], new Float32Array(0))],
  ]);
}

function expectSameDict(got: StateDict, want: StateDict): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, t] of want) {
    const g = got.get(name)!;
    expect({ name, dtype: g.dtype, shape: g.shape }).toEqual({ name, dtype: t.dtype, shape: t.shape });
    expect(Buffer.from(g.data).equals(Buffer.from(t.data))).toBe(true);
  }
}

describe('round trip', () => {
  test('every dtype, scalars and empty tensors, with metadata, in memory', () => {
    const dict = everyDtype();
    const bytes = serializeSafetensors(dict, { format: 'pt', note: 'ünïcode ok' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const back = parseSafetensors(bytes, 'mem');
    expectSameDict(back.tensors, dict);
    expect(back.metadata).toEqual({ format: 'pt', note: 'ünïcode ok' });
    expect(Array.from(toFloat32(back.tensors.get('half')!))).toEqual([1, -2, 2 ** -24]);
    expect(Array.from(toFloat32(back.tensors.get('brain')!))).toEqual([1, -3.5]);
    expect(toBigInt64(back.tensors.get('bn.num_batches_tracked')!)[0]).toBe(123456789012345n);
    expect(Array.from(toInt32(back.tensors.get('queue_ptr3')!))).toEqual([-7]);
    expect(Array.from(toInt32(back.tensors.get('mask')!))).toEqual([1, 0, 1]);
    const big = tensorEntry('I64', [2], BigInt64Array.from([1n, 2n ** 31n]));
    expect(() => toInt32(big, 'queue_ptr4')).toThrow('queue_ptr4: I64 value 2147483648 does not fit in i32');
    expect(() => toFloat32(big, 'queue_ptr4')).toThrow('queue_ptr4: dtype I64 is not a float type');
    expect(() => toBigInt64(back.tensors.get('weights')!, 'w')).toThrow('w: dtype F32 is not an integer type');
  });

  test('on disk: atomic write over an existing file leaves no temporary file', () => {
    const path = join(dir, 'model.safetensors');
    writeFileSync(path, 'old contents');
    writeSafetensors(path, everyDtype(), { a: 'b' });
    expectSameDict(readSafetensors(path).tensors, everyDtype());
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  test('a writer error leaves the previous file intact and names the tensor', () => {
    const path = join(dir, 'keep.safetensors');
    writeSafetensors(path, everyDtype());
    const before = readFileSync(path);
    const bad: StateDict = new Map([['conv.weight', { dtype: 'F32', shape: [2, 2], data: new Uint8Array(12) }]]);
    expect(() => writeSafetensors(path, bad)).toThrow(/keep\.safetensors: tensor "conv\.weight": has 12 bytes but F32 \[2,2\] needs 16/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('keep'))).toEqual(['keep.safetensors']);
  });

  test('values are decoded regardless of the alignment of the tensor in the file', () => {
    const dict: StateDict = new Map([
      ['a', tensorEntry('U8', [3], Uint8Array.from([9, 8, 7]))],
      ['b', tensorEntry('F32', [2], Float32Array.from([0.1, -4]))],
      ['c', tensorEntry('I64', [1], BigInt64Array.from([5n]))],
    ]);
    const back = parseSafetensors(serializeSafetensors(dict), 'mem').tensors;
    expect(back.get('b')!.data.byteOffset % 4).not.toBe(0);
    expect(Array.from(toFloat32(back.get('b')!))).toEqual([Math.fround(0.1), -4]);
    expect(toBigInt64(back.get('c')!)[0]).toBe(5n);
  });
});

describe('files written on PyTorch\'s side', () => {
  for (const stem of ['resnet_fragment', 'csg_fragment', 'dtypes']) {
    test(`${stem}: every tensor's dtype, shape and values`, () => {
      const file = readSafetensors(join(FIXTURES, `${stem}.safetensors`));
      const want = expected[stem];
      expect(file.metadata).toEqual(want.metadata);
      expect([...file.tensors.keys()].sort()).toEqual(Object.keys(want.tensors).sort());
      for (const [name, w] of Object.entries(want.tensors)) {
        const t = file.tensors.get(name)!;
        expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({ name, dtype: w.dtype, shape: w.shape });
        if (t.dtype === 'I64') {
          expect(Array.from(toBigInt64(t, name), String)).toEqual(w.values);
        } else if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') {
          const wantValues = w.values.map((v) => (typeof v === 'string' ? Number(v.replace('inf', 'Infinity')) : v));
          expect(Array.from(toFloat32(t, name))).toEqual(wantValues);
        } else {
          expect(Array.from(toInt32(t, name))).toEqual(w.values);
        }
      }
    });

    test(`${stem}: our writer reproduces the file byte for byte`, () => {
      const bytes = readFileSync(join(FIXTURES, `${stem}.safetensors`));
      const { tensors, metadata } = parseSafetensors(bytes, stem);
      expect(Buffer.from(serializeSafetensors(tensors, metadata)).equals(bytes)).toBe(true);
    });
  }

  test('CSG checkpoint: prefixes, queue and pointer with PyTorch\'s dtypes', () => {
    const { tensors } = readSafetensors(join(FIXTURES, 'csg_fragment.safetensors'));
    const prefixes = new Set([...tensors.keys()].map((n) => n.split('.')[0]));
    expect(prefixes).toEqual(new Set(['encoder_q', 'encoder_k', 'queue3', 'queue_ptr3']));
    expect(tensors.get('queue3')).toMatchObject({ dtype: 'F32', shape: [128, 6] });
    expect(tensors.get('queue_ptr3')).toMatchObject({ dtype: 'I64', shape: [1] });
    expect(toBigInt64(tensors.get('queue_ptr3')!)[0]).toBe(4n);
    expect(tensors.get('encoder_q.bn1.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    // Each queue column is L2-normalised.
    const q = toFloat32(tensors.get('queue3')!);
    for (let c = 0; c < 6; c++) {
      let s = 0;
      for (let r = 0; r < 128; r++) s += q[r * 6 + c] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 5);
    }
  });
});

describe('checking a dict against the model', () => {
  const spec = new Map<string, TensorSpec>([
    ['conv1.weight', { shape: [4, 3, 7, 7], dtype: 'F32' }],
    ['bn1.num_batches_tracked', { shape: [], dtype: 'I64' }],
    ['fc.weight', { shape: [5, 4], dtype: 'F32' }],
    ['layer9.0.conv1.weight', { shape: [1], dtype: 'F32' }],
  ]);

  test('lists every missing, unexpected and mismatched tensor by name', () => {
    const path = join(FIXTURES, 'resnet_fragment.safetensors');
    const { tensors } = readSafetensors(path);
    tensors.set('fc.weight', tensorEntry('F32', [4, 5], new Float32Array(20)));
    const report = compareStateDict(tensors, spec);
    expect(report.missing).toEqual(['layer9.0.conv1.weight']);
    expect(report.mismatched).toEqual(['fc.weight: F32 [4,5], expected F32 [5,4]']);
    expect(report.unexpected).toContain('layer1.0.downsample.1.running_var');
    expect(report.unexpected).toHaveLength(tensors.size - 3);
    let message = '';
    try {
      assertStateDict(tensors, spec, path);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('resnet_fragment.safetensors');
    expect(message).toContain('mismatched fc.weight: F32 [4,5], expected F32 [5,4]');
    expect(message).toContain('missing layer9.0.conv1.weight');
    expect(message).toContain('unexpected bn1.running_mean');
    expect(() => assertStateDict(tensors, new Map([['fc.weight', { shape: [4, 5], dtype: 'F32' }]]), path, { allowUnexpected: true })).not.toThrow();
    expect(() => assertStateDict(tensors, new Map([['fc.weight', { shape: [4, 5], dtype: 'I64' }]]), path, { allowUnexpected: true })).toThrow(
      /mismatched fc\.weight: F32 \[4,5\], expected I64 \[4,5\]/,
    );
  });
});

/** A file from a header (object or raw text) and a data region; `length` overrides the header length. */
function build(header: unknown, data: Uint8Array, length?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.byteLength), true);
  out.set(text, 8);
  out.set(data, 8 + text.byteLength);
  return out;
}

describe('malformed files: a clear error naming the file and the tensor', () => {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short for the length', new Uint8Array(5), /bad\.safetensors: not a safetensors file: 5 bytes is too short/],
    ['a PNG', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]), /bad\.safetensors: not a safetensors file: header length \d+ exceeds/],
    ['a small file with a plausible length', build('PK\x03\x04 zip', new Uint8Array(0)), /bad\.safetensors: not a safetensors file: header is malformed JSON/],
    ['header length over 100 MB', build({}, new Uint8Array(0), 100_000_001n), /header length 100000001 exceeds the limit/],
    ['header length past the end', build({}, new Uint8Array(0), 64n), /header length 64 runs past the end of the file \(10 bytes\)/],
    ['header not UTF-8', build('', Uint8Array.from([0xff, 0xfe]), 2n), /header is not valid UTF-8/],
    ['malformed JSON', build('{"a": {"dtype": "F32",', new Uint8Array(0)), /header is malformed JSON/],
    ['JSON not an object', build('[1, 2]', new Uint8Array(0)), /header JSON is not an object/],
    ['metadata not string→string', build({ __metadata__: { epoch: 3 } }, new Uint8Array(0)), /__metadata__ value of "epoch" is not a string/],
    ['unknown dtype', build({ 'fc.weight': { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor "fc\.weight": unknown dtype "C64"/],
    ['bad shape', build({ 'fc.weight': { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "fc\.weight": shape \[-1\] is not a list/],
    ['bad offsets', build({ 'fc.bias': { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), /tensor "fc\.bias": data_offsets \[4,0\] is not \[begin, end\]/],
    ['size does not fit shape·dtype', build({ 'conv1.weight': f32(0, 12, [2, 2]) }, new Uint8Array(12)), /tensor "conv1\.weight": data_offsets \[0, 12\] hold 12 bytes but F32 \[2,2\] needs 16/],
    ['hole at the start', build({ 'bn1.bias': f32(4, 8) }, new Uint8Array(8)), /tensor "bn1\.bias": hole of 4 bytes/],
    ['hole between tensors', build({ a: f32(0, 4), 'bn1.bias': f32(8, 12) }, new Uint8Array(12)), /tensor "bn1\.bias": hole of 4 bytes in the data before this tensor/],
    ['overlap', build({ 'bn1.weight': f32(0, 8), 'bn1.bias': f32(4, 12) }, new Uint8Array(12)), /tensor "bn1\.bias": data_offsets \[4, 12\] overlap tensor "bn1\.weight"/],
    ['trailing bytes', build({ 'queue3': f32(0, 8) }, new Uint8Array(11)), /3 trailing bytes after the last tensor \("queue3"\)/],
    ['data past the end', build({ 'queue_ptr3': { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(4)), /tensor "queue_ptr3": data_offsets end 8 runs past the end of the data \(4 bytes\)/],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, () => {
      let error: Error | undefined;
      try {
        parseSafetensors(bytes, 'bad.safetensors');
      } catch (e) {
        error = e as Error;
      }
      expect(error?.name).toBe('SafetensorsError');
      expect(error?.message).toMatch(/^bad\.safetensors: /);
      expect(error?.message).toMatch(message);
    });
  }

  test('a missing file names the path', () => {
    expect(() => readSafetensors(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot read/);
  });
});
