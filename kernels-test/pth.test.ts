// The .pth reader against files PyTorch wrote (kernels-test/fixtures/make_pth.py): every storage dtype,
// both container formats, pickle protocols 2–5, offsets/strides/shared storages, a reference-style
// checkpoint dict; and the safe unpickler refusing globals outside its allow-list without running them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StateDict } from '../src/io/safetensors.js';
import { readSafetensors } from '../src/io/safetensors-file.js';
import { readPth, loadPthObject, allowedGlobals, PthError } from '../src/io/pth.js';
import { unpickle, PickleError, PyDict, type PyKey } from '../src/io/pickle.js';
import { readWeights, describeWeights } from '../src/io/weights.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'pth');
const ROOT = join(import.meta.dirname, '..');
const fixture = (name: string) => join(FIXTURES, name);

/** Same names, dtypes, shapes and bytes. */
function expectBitEqual(actual: StateDict, expected: StateDict): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    expect({ name, dtype: a.dtype, shape: a.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
    expect(Buffer.from(a.data).equals(Buffer.from(e.data))).toBe(true);
  }
}

describe('torch.save files read bit for bit', () => {
  for (const [file, expected] of [
    ['dtypes.zip.pth', 'dtypes'],
    ['dtypes.legacy.pth', 'dtypes'],
    ['layout.zip.pth', 'layout'],
    ['layout.legacy.pth', 'layout'],
    ['layout.p4.pth', 'layout'],
    ['layout.p5.pth', 'layout'],
  ] as const) {
    test(`${file} equals ${expected}.expected.safetensors`, () => {
      const { tensors, notes } = readPth(fixture(file));
      expectBitEqual(tensors, readSafetensors(fixture(`${expected}.expected.safetensors`)).tensors);
      expect(notes).toEqual([]);
    });
  }

  test('every storage type is covered', () => {
    const dtypes = new Set([...readPth(fixture('dtypes.zip.pth')).tensors.values()].map((t) => t.dtype));
    expect([...dtypes].sort()).toEqual(['BF16', 'BOOL', 'F16', 'F32', 'F64', 'I16', 'I32', 'I64', 'I8', 'U8']);
  });

  test('views of one storage share its bytes; a contiguous view is not copied', () => {
    const { tensors } = readPth(fixture('layout.zip.pth'));
    const a = tensors.get('shared.a')!.data;
    const b = tensors.get('shared.b')!.data;
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset - a.byteOffset).toBe(8 * 4);
  });
});

describe('plain pickles, protocols 2 to 5', () => {
  const expected = JSON.parse(readFileSync(fixture('plain.json'), 'utf8'));
  const toJson = (v: unknown): unknown => {
    if (v instanceof PyDict) return Object.fromEntries([...v.entries].map(([k, x]) => [String(k as PyKey), toJson(x)]));
    if (v instanceof Uint8Array) return [...v];
    if (Array.isArray(v)) return v.map(toJson);
    if (typeof v === 'bigint') return String(v);
    return v;
  };
  for (const protocol of [2, 3, 4, 5]) {
    test(`plain.p${protocol}.pkl`, () => {
      const bytes = readFileSync(fixture(`plain.p${protocol}.pkl`));
      const { value, end } = unpickle(bytes, { globals: allowedGlobals(), source: `p${protocol}` });
      expect(end).toBe(bytes.length);
      expect(toJson(value)).toEqual(expected);
      const shared = (value as PyDict).entries.get('shared') as unknown[];
      expect(shared[0]).toBe(shared[1]); // the memo gives back the same object
    });
  }
});

describe('a checkpoint dict of the reference (epoch, state_dict with module., best_mIoU)', () => {
  test('unwraps, strips module., keeps the scalars and says so', () => {
    const w = readWeights(fixture('checkpoint.pth.tar'));
    expect(w.format).toBe('pth (zip)');
    expect(w.metadata).toEqual({ epoch: '12', best_mIoU: '0.4321' });
    expect(w.notes).toEqual([
      "unwrapped 'state_dict' from a checkpoint dict (beside it: epoch=12, best_mIoU=0.4321)",
      "removed the DataParallel prefix 'module.' from 316 names",
    ]);
    expect(w.layout).toBe('torchvision');
    expect(describeWeights('ckpt', w)).toMatch(/stride in the 3×3/);
    const expected = readSafetensors(fixture('checkpoint.expected.safetensors')).tensors;
    for (const k of [...expected.keys()]) if (k.startsWith('expected.')) expected.delete(k);
    const student = new Map([...w.tensors].filter(([k]) => !k.startsWith('encoder_k.')));
    expectBitEqual(student, expected);
    for (const [k, t] of w.tensors) {
      if (k.startsWith('encoder_k.')) expect(Buffer.from(t.data).equals(Buffer.from(w.tensors.get(`encoder_q.${k.slice(10)}`)!.data))).toBe(true);
    }
  });
});

describe('the safe unpickler', () => {
  let dir: string;
  const cwd = process.cwd();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'csg-pth-'));
    process.chdir(dir);
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a torch.save file whose pickle returns os.system is refused, naming it, and nothing runs', () => {
    expect(() => readPth(fixture('malicious.pth'))).toThrow(/refused global posix\.system: not in the allow-list/);
    expect(existsSync(join(dir, 'pth-attack-marker'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  const pickleOf = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const cases: [string, Buffer, RegExp][] = [
    ['GLOBAL builtins.eval', pickleOf([0x80, 2], 'cbuiltins\neval\n', 'X', [5, 0, 0, 0], '1+1', [0x85, 0x52, 0x2e]), /refused global builtins\.eval/],
    ['STACK_GLOBAL subprocess.Popen', pickleOf([0x80, 4, 0x8c, 10], 'subprocess', [0x8c, 5], 'Popen', [0x93, 0x29, 0x52, 0x2e]), /refused global subprocess\.Popen/],
    ['INST of a class', pickleOf('(iargparse\nNamespace\n.'), /refused global argparse\.Namespace/],
    ['REDUCE of a non-global', pickleOf([0x80, 2, 0x4b, 1, 0x29, 0x52, 0x2e]), /REDUCE of a number, not an allowed global/],
    ['truncated', pickleOf([0x80, 2, 0x58, 9, 0, 0, 0], 'ab'), /truncated/],
    ['unknown opcode', pickleOf([0x80, 2, 0xff]), /unknown opcode 0xff/],
  ];
  for (const [name, bytes, message] of cases) {
    test(`${name}: refused with a message naming it`, () => {
      expect(() => unpickle(bytes, { globals: new Map(), source: 'crafted' })).toThrow(PickleError);
      expect(() => unpickle(bytes, { globals: new Map(), source: 'crafted' })).toThrow(message);
    });
  }

  test('a file that is neither format is named', () => {
    writeFileSync(join(dir, 'x.pth'), 'hello');
    expect(() => loadPthObject(readFileSync(join(dir, 'x.pth')), 'x.pth')).toThrow(PthError);
    expect(() => loadPthObject(readFileSync(join(dir, 'x.pth')), 'x.pth')).toThrow(/x\.pth: neither PyTorch's zip format nor its legacy/);
  });
});

describe('npm run convert:weights', () => {
  const convert = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/convert-weights.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'csg-convert-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('a reference checkpoint → the unwrapped state dict as safetensors, equal to PyTorch', () => {
    const out = join(tmp, 'ckpt.safetensors');
    const r = convert(fixture('checkpoint.pth.tar'), out);
    expect(r.stderr).toMatch(/unwrapped 'state_dict'.*removed the DataParallel prefix 'module\.'.*torchvision layout/s);
    expect(r.status).toBe(0);
    const { tensors, metadata } = readSafetensors(out);
    expectBitEqual(tensors, readPth(fixture('checkpoint.pth.tar')).tensors);
    expect(metadata).toMatchObject({ epoch: '12', best_mIoU: '0.4321', stride_in_1x1: 'false', input_channel_order: 'RGB' });
  });

  test('the malicious file: refused, naming posix.system; nothing written, no marker', () => {
    const out = join(tmp, 'evil.safetensors');
    const r = convert(fixture('malicious.pth'), out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refused global posix\.system/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f !== 'ckpt.safetensors')).toEqual([]);
    expect(existsSync(join(ROOT, 'pth-attack-marker'))).toBe(false);
  });
});
