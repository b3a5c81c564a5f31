// PyTorch `.pth` / `.pth.tar` files (torch.save) read without Python, through the safe unpickler:
//   zip format (torch ≥ 1.6): `<archive>/data.pkl`, storages in `<archive>/data/<key>`, `<archive>/byteorder`;
//   legacy format (torch < 1.6 or _use_new_zipfile_serialization=False): magic, protocol and sys-info
//   pickles, the object pickle, the storage-key list, then each storage as an int64 count and its bytes.
// Tensors (offsets, any strides, shared storages) come out as contiguous safetensors entries, so a
// state dict read here is what `readSafetensors` would give for the same tensors.
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { unpickle, PickleError, PyDict, PyTuple, describe, type PyGlobal, type PyKey } from './pickle.js';
import { DTYPE_BYTES, numel, type Dtype, type StateDict, type TensorEntry } from './safetensors.js';

export class PthError extends Error {
  override name = 'PthError';
}

/** torch.<Name>Storage → the safetensors dtype of its elements. */
const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

class StorageType implements PyGlobal {
  constructor(
    readonly qualname: string,
    readonly dtype: Dtype,
  ) {}
}

/** The bytes of one storage, little-endian; shared by every tensor that views it. */
interface Storage {
  dtype: Dtype;
  bytes: Uint8Array;
  key: string;
}

/** A tensor as pickled: a view (offset, sizes, strides in elements) into a storage. */
export class PickledTensor {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  /** Parameters and subclasses may carry Python attributes; a state dict has no use for them. */
  setState(): void {}
}

function ints(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new PthError(`${what} is ${describe(v)} ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x))}, not a tuple of non-negative integers`);
  }
  return v as number[];
}

function rebuildTensor(args: unknown[]): PickledTensor {
  const [storage, offset, size, stride] = args;
  if (typeof storage !== 'object' || storage === null || !('bytes' in storage)) throw new PthError(`_rebuild_tensor: the storage is a ${describe(storage)}`);
  const s = storage as Storage;
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new PthError(`storage offset ${String(offset)} is not a non-negative integer`);
  if (strides.length !== shape.length) throw new PthError(`size [${shape}] and stride [${strides}] differ in rank`);
  return new PickledTensor(s, offset, shape, strides);
}

const fn = (qualname: string, call: (args: unknown[]) => unknown): PyGlobal => ({ qualname, call });

/** numpy scalars (a reference checkpoint's best_mIoU may be np.float64): only fixed-width numbers. */
class NumpyDtype implements PyGlobal {
  readonly qualname = 'numpy.dtype';
  littleEndian = true;
  constructor(readonly code: string) {}
  setState(state: unknown): void {
    if (state instanceof PyTuple && typeof state[1] === 'string') this.littleEndian = state[1] !== '>';
  }
}
const NUMPY_SCALAR: Record<string, (v: DataView, le: boolean) => number | bigint | boolean> = {
  f8: (v, le) => v.getFloat64(0, le),
  f4: (v, le) => v.getFloat32(0, le),
  i8: (v, le) => v.getBigInt64(0, le),
  i4: (v, le) => v.getInt32(0, le),
  b1: (v) => v.getUint8(0) !== 0,
};

function numpyScalar([dtype, data]: unknown[]): number | bigint | boolean {
  if (!(dtype instanceof NumpyDtype) || !(data instanceof Uint8Array) || !NUMPY_SCALAR[dtype.code]) {
    throw new PthError(`numpy scalar of ${dtype instanceof NumpyDtype ? dtype.code : describe(dtype)} is not supported (f8, f4, i8, i4, b1 are)`);
  }
  const v = NUMPY_SCALAR[dtype.code]!(new DataView(data.buffer, data.byteOffset, data.byteLength), dtype.littleEndian);
  return typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

/** Everything a state dict or a training checkpoint needs, and nothing that can act on the world. */
export function allowedGlobals(): Map<string, PyGlobal> {
  const orderedDict = fn('collections.OrderedDict', (args) => {
    if (args.length) throw new PthError('OrderedDict with arguments');
    return new PyDict();
  });
  const tensorV2 = fn('torch._utils._rebuild_tensor_v2', (args) => rebuildTensor(args));
  const entries: PyGlobal[] = [
    orderedDict,
    tensorV2,
    fn('torch._utils._rebuild_tensor', (args) => rebuildTensor(args)),
    fn('torch._utils._rebuild_parameter', ([data]) => data),
    fn('torch._utils._rebuild_parameter_with_state', ([data]) => data),
    { qualname: 'torch.Tensor' },
    { qualname: 'torch.nn.parameter.Parameter' },
    fn('torch._tensor._rebuild_from_type_v2', ([func, type, args]) => {
      const t = type as PyGlobal;
      if (t?.qualname !== 'torch.Tensor' && t?.qualname !== 'torch.nn.parameter.Parameter') throw new PthError(`tensor subclass ${describe(type)}`);
      const f = func as PyGlobal;
      if (!f?.call || !(args instanceof PyTuple)) throw new PthError(`_rebuild_from_type_v2 of ${describe(func)}`);
      return f.call([...args]);
    }),
    // protocol 2 pickles Python 3 bytes as _codecs.encode(text, 'latin1')
    fn('_codecs.encode', ([text, encoding]) => {
      if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) throw new PthError(`_codecs.encode(${describe(text)}, ${String(encoding)}): only latin1 text`);
      return Uint8Array.from(text, (c) => c.charCodeAt(0));
    }),
    fn('numpy.core.multiarray.scalar', numpyScalar),
    fn('numpy.dtype', ([code]) => {
      if (typeof code !== 'string') throw new PthError(`numpy.dtype(${describe(code)})`);
      return new NumpyDtype(code);
    }),
  ];
  const map = new Map(entries.map((g) => [g.qualname, g]));
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) map.set(`torch.${name}`, new StorageType(`torch.${name}`, dtype));
  return map;
}

function swapBytes(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += width) for (let b = 0; b < width; b++) out[i + b] = bytes[i + width - 1 - b]!;
  return out;
}

/** The tensor's elements, contiguous row-major (a view of the storage when it already is). */
export function materialize(t: PickledTensor, name: string): TensorEntry {
  const { dtype, bytes } = t.storage;
  const width = DTYPE_BYTES[dtype];
  const n = numel(t.shape);
  // Checked here, not when unpickled: the legacy format's storage bytes come after the pickle.
  const last = t.offset + t.shape.reduce((acc, d, i) => acc + (d - 1) * t.stride[i]!, 0);
  if (n > 0 && (last + 1) * width > bytes.byteLength) {
    throw new PthError(`tensor "${name}" of size [${t.shape}] stride [${t.stride}] at offset ${t.offset} runs past its storage ${t.storage.key} (${bytes.byteLength / width} elements)`);
  }
  let contiguous = true;
  for (let d = t.shape.length - 1, expect = 1; d >= 0; expect *= t.shape[d]!, d--) if (t.shape[d]! !== 1 && t.stride[d] !== expect) contiguous = false;
  if (contiguous) return { dtype, shape: [...t.shape], data: bytes.subarray(t.offset * width, (t.offset + n) * width) };
  // A zero stride (an expanded tensor) can name far more elements than its storage holds.
  if (n * width > 2 ** 31) throw new PthError(`tensor "${name}" of size [${t.shape}] stride [${t.stride}] would take ${n * width} bytes to lay out (more than 2 GiB)`);
  const out = new Uint8Array(n * width);
  const rank = t.shape.length;
  const index = new Array<number>(rank).fill(0);
  let src = t.offset;
  for (let i = 0; i < n; i++) {
    out.set(bytes.subarray(src * width, (src + 1) * width), i * width);
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d]! < t.shape[d]!) {
        src += t.stride[d]!;
        break;
      }
      src -= (t.shape[d]! - 1) * t.stride[d]!;
      index[d] = 0;
    }
  }
  return { dtype, shape: [...t.shape], data: out };
}

function storageTypeOf(v: unknown, where: string): StorageType {
  if (!(v instanceof StorageType)) throw new PthError(`${where}: storage type is ${describe(v)}, not one of torch.{${Object.keys(STORAGE_DTYPES).join(',')}}`);
  return v;
}

function readZip(bytes: Uint8Array, source: string): unknown {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new PthError(`${source}: not a readable zip archive: ${(e as Error).message}`);
  }
  const pkl = Object.keys(files).find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new PthError(`${source}: a zip archive without <name>/data.pkl is not a PyTorch file`);
  const root = pkl.slice(0, -'data.pkl'.length);
  const order = files[`${root}byteorder`];
  const bigEndian = order !== undefined && new TextDecoder().decode(order).trim() === 'big';
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!(pid instanceof PyTuple) || pid[0] !== 'storage' || pid.length < 5) throw new PthError(`persistent id ${describe(pid)} is not ('storage', type, key, location, numel)`);
    const type = storageTypeOf(pid[1], 'persistent id');
    const key = String(pid[2]);
    const cached = storages.get(key);
    if (cached) return cached;
    const raw = files[`${root}data/${key}`];
    if (!raw) throw new PthError(`storage ${key} (${root}data/${key}) is missing from the archive`);
    const width = DTYPE_BYTES[type.dtype];
    if (raw.byteLength % width) throw new PthError(`storage ${key} holds ${raw.byteLength} bytes, not a whole number of ${type.dtype}`);
    const s: Storage = { dtype: type.dtype, bytes: bigEndian && width > 1 ? swapBytes(raw, width) : raw, key };
    storages.set(key, s);
    return s;
  };
  return unpickle(files[pkl]!, { globals: allowedGlobals(), persistentLoad, source: `${source} ${pkl}` }).value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacy(bytes: Uint8Array, source: string): unknown {
  const globals = allowedGlobals();
  const plain = { globals: new Map<string, PyGlobal>(), source };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC) throw new PthError(`${source}: a pickle without PyTorch's magic number (not a torch.save file)`);
  const protocol = unpickle(bytes, plain, magic.end);
  if (protocol.value !== 1001) throw new PthError(`${source}: legacy protocol version ${String(protocol.value)} (1001 expected)`);
  const sysInfo = unpickle(bytes, plain, protocol.end);
  const info = sysInfo.value instanceof PyDict ? sysInfo.value.entries : new Map<PyKey, unknown>();
  if (info.get('little_endian') === false) throw new PthError(`${source}: written on a big-endian machine (legacy format), not supported`);
  // Storages are known by key while the object is read; their bytes come after it.
  const declared = new Map<string, { dtype: Dtype; numel: number; views: { offset: number; size: number; target: Storage }[]; storage: Storage }>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!(pid instanceof PyTuple) || pid[0] !== 'storage' || pid.length < 5) throw new PthError(`persistent id ${describe(pid)} is not ('storage', type, key, location, numel, view)`);
    const type = storageTypeOf(pid[1], 'persistent id');
    const key = String(pid[2]);
    let root = declared.get(key);
    if (!root) {
      root = { dtype: type.dtype, numel: Number(pid[4]), views: [], storage: { dtype: type.dtype, bytes: new Uint8Array(0), key } };
      declared.set(key, root);
    }
    const view = pid[5];
    if (view instanceof PyTuple) {
      const target: Storage = { dtype: type.dtype, bytes: new Uint8Array(0), key: `${key}[view ${String(view[0])}]` };
      root.views.push({ offset: Number(view[1]), size: Number(view[2]), target });
      return target;
    }
    return root.storage;
  };
  const object = unpickle(bytes, { globals, persistentLoad, source }, sysInfo.end);
  const keys = unpickle(bytes, plain, object.end);
  if (!Array.isArray(keys.value)) throw new PthError(`${source}: the storage key list is a ${describe(keys.value)}`);
  let at = keys.end;
  for (const k of keys.value) {
    const root = declared.get(String(k));
    if (!root) throw new PthError(`${source}: storage ${String(k)} is listed but no tensor uses it`);
    if (at + 8 > bytes.byteLength) throw new PthError(`${source}: truncated before storage ${String(k)}`);
    const count = Number(new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigInt64(0, true));
    const width = DTYPE_BYTES[root.dtype];
    at += 8;
    if (count < 0 || at + count * width > bytes.byteLength) throw new PthError(`${source}: storage ${String(k)} (${count} × ${root.dtype}) runs past the end of the file`);
    root.storage.bytes = bytes.subarray(at, at + count * width);
    for (const v of root.views) v.target.bytes = root.storage.bytes.subarray(v.offset * width, (v.offset + v.size) * width);
    at += count * width;
  }
  for (const [key, root] of declared) if (root.storage.bytes.byteLength === 0 && root.numel > 0) throw new PthError(`${source}: storage ${key} has no data in the file`);
  return object.value;
}

export type PthFormat = 'zip' | 'legacy';

/** Which torch.save format these bytes are, or null when neither. */
export function sniffPth(bytes: Uint8Array): PthFormat | null {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5) return 'legacy';
  return null;
}

/** The object torch.save wrote, with tensors as PickledTensor and dicts as PyDict. */
export function loadPthObject(bytes: Uint8Array, source: string): unknown {
  const format = sniffPth(bytes);
  if (!format) throw new PthError(`${source}: neither PyTorch's zip format nor its legacy pickle format`);
  try {
    return format === 'zip' ? readZip(bytes, source) : readLegacy(bytes, source);
  } catch (e) {
    if (e instanceof PickleError || e instanceof PthError) throw e;
    throw new PthError(`${source}: ${(e as Error).message}`);
  }
}

export interface PthStateDict {
  tensors: StateDict;
  /** Scalars beside the state dict (a checkpoint's epoch, best_mIoU), as strings. */
  metadata: Record<string, string>;
  /** What was unwrapped, for the person loading it. */
  notes: string[];
}

const isTensorDict = (d: PyDict): boolean => d.entries.size > 0 && [...d.entries.values()].every((v) => v instanceof PickledTensor);

/**
 * A torch.save'd state dict, or a checkpoint dict holding one under 'state_dict' (or 'model'),
 * unwrapped to tensor entries; a DataParallel `module.` prefix on every name is removed.
 */
export function stateDictFromPth(object: unknown, source: string): PthStateDict {
  if (!(object instanceof PyDict)) throw new PthError(`${source}: holds a ${describe(object)}, not a dict of tensors`);
  const notes: string[] = [];
  const metadata: Record<string, string> = {};
  let dict = object;
  if (!isTensorDict(object)) {
    const inner = ['state_dict', 'model'].find((k) => object.entries.get(k) instanceof PyDict && isTensorDict(object.entries.get(k) as PyDict));
    if (!inner) {
      const keys = [...object.entries.keys()].map(String);
      throw new PthError(`${source}: a dict with keys ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''} is neither a state dict nor a checkpoint with one under 'state_dict'`);
    }
    dict = object.entries.get(inner) as PyDict;
    for (const [k, v] of object.entries) {
      if (k === inner) continue;
      if (['number', 'bigint', 'string', 'boolean'].includes(typeof v)) metadata[String(k)] = String(v);
    }
    const others = [...object.entries.keys()].filter((k) => k !== inner).map(String);
    notes.push(`unwrapped '${inner}' from a checkpoint dict${others.length ? ` (beside it: ${others.map((k) => (k in metadata ? `${k}=${metadata[k]}` : k)).join(', ')})` : ''}`);
  }
  const names = [...dict.entries.keys()].map(String);
  const prefixed = names.length > 0 && names.every((n) => n.startsWith('module.'));
  if (prefixed) notes.push(`removed the DataParallel prefix 'module.' from ${names.length} names`);
  const tensors: StateDict = new Map();
  for (const [k, v] of dict.entries) tensors.set(prefixed ? String(k).slice('module.'.length) : String(k), materialize(v as PickledTensor, `${source}: ${String(k)}`));
  return { tensors, metadata, notes };
}

/** Reads a `.pth`/`.pth.tar` state dict or checkpoint (see stateDictFromPth). */
export function readPth(path: string): PthStateDict {
  let bytes: Uint8Array;
  try {
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new PthError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return stateDictFromPth(loadPthObject(bytes, path), path);
}
