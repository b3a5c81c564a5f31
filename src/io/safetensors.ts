// safetensors on CPU typed arrays: a strict parser (every error names the file and the tensor) and a
// serializer whose output PyTorch's safetensors loads. No GPU and no files here (safetensors-file.ts
// reads and writes them), so the browser bundle uses it as it is: entries are raw little-endian bytes.

export const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type Dtype = keyof typeof DTYPE_BYTES;

/** One tensor: its bytes (little-endian, row-major) as a view, usually into the file's buffer. */
export interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  data: Uint8Array;
}

/** Tensors by name, in PyTorch state_dict naming. */
export type StateDict = Map<string, TensorEntry>;

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** The most header bytes we accept (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(`${file}: ${tensor === undefined ? '' : `tensor "${tensor}": `}${detail}`);
    this.name = 'SafetensorsError';
  }
}

const isDtype = (s: unknown): s is Dtype => typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);

export function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and validates a whole file; tensor data are views into `bytes` (no copy). */
export function parseSafetensors(bytes: Uint8Array, nameForErrors: string): SafetensorsFile {
  const fail = (detail: string, tensor?: string): never => {
    throw new SafetensorsError(nameForErrors, tensor, detail);
  };
  // A file whose 8-byte length and JSON header do not hold up is some other file (a PNG, a .pth, …).
  const notSafetensors = (detail: string): never => fail(`not a safetensors file: ${detail}`);
  if (bytes.byteLength < 8) notSafetensors(`${bytes.byteLength} bytes is too short for the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) notSafetensors(`header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) notSafetensors(`header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return notSafetensors('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return notSafetensors(`header is malformed JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) notSafetensors('header JSON is not an object');

  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const parsed: [string, Dtype, number[]][] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value of "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) return fail('entry is not an object', name);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype)) return fail(`unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`, name);
    if (!Array.isArray(shape) || !shape.every(isCount)) return fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      return fail(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`, name);
    }
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(expected) || offsets[1] - offsets[0] !== expected) {
      fail(`data_offsets [${offsets[0]}, ${offsets[1]}] hold ${offsets[1] - offsets[0]} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`, name);
    }
    spans.push({ name, begin: offsets[0], end: offsets[1] });
    parsed.push([name, dtype, shape]);
  }

  // The entries must tile the data region exactly.
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const s of spans) {
    if (s.begin > covered) fail(`hole of ${s.begin - covered} bytes in the data before this tensor (data_offsets begin ${s.begin}, previous data ends at ${covered})`, s.name);
    if (s.begin < covered) fail(`data_offsets [${s.begin}, ${s.end}] overlap tensor "${previous}" (which ends at ${covered})`, s.name);
    if (s.end > dataLength) fail(`data_offsets end ${s.end} runs past the end of the data (${dataLength} bytes)`, s.name);
    covered = s.end;
    previous = s.name;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} trailing bytes after the last tensor${previous ? ` ("${previous}")` : ''}`);

  const tensors: StateDict = new Map();
  const offsetsByName = new Map(spans.map((s) => [s.name, s]));
  for (const [name, dtype, shape] of parsed) {
    const { begin, end } = offsetsByName.get(name)!;
    tensors.set(name, { dtype, shape, data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}

function checkEntry(name: string, t: TensorEntry, file: string): void {
  if (name === '__metadata__' || name === '') throw new SafetensorsError(file, name, 'is not a valid tensor name');
  if (!isDtype(t.dtype)) throw new SafetensorsError(file, name, `unknown dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every(isCount)) throw new SafetensorsError(file, name, `shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
  const expected = numel(t.shape) * DTYPE_BYTES[t.dtype];
  if (t.data.byteLength !== expected) throw new SafetensorsError(file, name, `has ${t.data.byteLength} bytes but ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected}`);
}

/** The header bytes (length prefix included) and the tensors in file order: sorted by name. */
export function safetensorsLayout(tensors: StateDict, metadata: Record<string, string> | undefined, file: string): { head: Uint8Array; order: TensorEntry[] } {
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(file, undefined, `metadata value of "${k}" is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  const order: TensorEntry[] = [];
  for (const name of names) {
    const t = tensors.get(name)!;
    checkEntry(name, t, file);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
    order.push(t);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, order };
}

/** The whole file in memory (for small dicts and tests; `writeSafetensors` streams). */
export function serializeSafetensors(tensors: StateDict, metadata?: Record<string, string>): Uint8Array {
  const { head, order } = safetensorsLayout(tensors, metadata, '<memory>');
  const out = new Uint8Array(head.byteLength + order.reduce((s, t) => s + t.data.byteLength, 0));
  out.set(head, 0);
  let at = head.byteLength;
  for (const t of order) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

// ---- typed views and constructors ----

/** A fresh, aligned copy of the bytes (a tensor's offset in the file need not be aligned). */
function copyAligned(t: TensorEntry): ArrayBuffer {
  const copy = new Uint8Array(t.data.byteLength);
  copy.set(t.data);
  return copy.buffer;
}

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Float values as a new Float32Array: F32 copied, F16 and BF16 widened exactly, F64 rounded to nearest (as PyTorch's copy_ does). */
export function toFloat32(t: TensorEntry, name = 'tensor'): Float32Array {
  const n = numel(t.shape);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(copyAligned(t));
    case 'F64':
      return Float32Array.from(new Float64Array(copyAligned(t)));
    case 'F16': {
      const h = new Uint16Array(copyAligned(t));
      return Float32Array.from(h, f16ToF32);
    }
    case 'BF16': {
      const h = new Uint16Array(copyAligned(t));
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new Error(`${name}: dtype ${t.dtype} is not a float type`);
  }
}

/** Integer values as a new BigInt64Array (I64, I32, I16, I8, U8, BOOL). */
export function toBigInt64(t: TensorEntry, name = 'tensor'): BigInt64Array {
  switch (t.dtype) {
    case 'I64':
      return new BigInt64Array(copyAligned(t));
    case 'I32':
      return BigInt64Array.from(new Int32Array(copyAligned(t)), (v) => BigInt(v));
    case 'I16':
      return BigInt64Array.from(new Int16Array(copyAligned(t)), (v) => BigInt(v));
    case 'I8':
      return BigInt64Array.from(new Int8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), (v) => BigInt(v));
    case 'U8':
    case 'BOOL':
      return BigInt64Array.from(t.data, (v) => BigInt(v));
    default:
      throw new Error(`${name}: dtype ${t.dtype} is not an integer type`);
  }
}

/** Integer values as a new Int32Array; values outside the i32 range are an error. */
export function toInt32(t: TensorEntry, name = 'tensor'): Int32Array {
  if (t.dtype === 'I32') return new Int32Array(copyAligned(t));
  return Int32Array.from(toBigInt64(t, name), (v) => {
    if (v < -2147483648n || v > 2147483647n) throw new Error(`${name}: ${t.dtype} value ${v} does not fit in i32`);
    return Number(v);
  });
}

type TypedFor = {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
};

/** An entry over the bytes of `values` (no copy); F16/BF16 take their raw 16-bit patterns. */
/** Entries → the host tensors Module.loadStateDict takes (floats as F32, integers as I64). */
export function hostTensors(dict: StateDict): Map<string, { shape: number[]; data: Float32Array | BigInt64Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>();
  for (const [name, e] of dict) out.set(name, { shape: e.shape, data: e.dtype === 'I64' ? toBigInt64(e, name) : toFloat32(e, name) });
  return out;
}

export function tensorEntry<D extends Dtype>(dtype: D, shape: number[], values: TypedFor[D]): TensorEntry {
  if (values.length !== numel(shape)) throw new Error(`${dtype} ${JSON.stringify(shape)} needs ${numel(shape)} values, got ${values.length}`);
  return { dtype, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

// ---- checking a loaded dict against what a model expects ----

export interface TensorSpec {
  shape: number[];
  dtype: Dtype;
}

export interface StateDictReport {
  missing: string[];
  unexpected: string[];
  mismatched: string[];
}

export function compareStateDict(dict: StateDict, expected: Map<string, TensorSpec>): StateDictReport {
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [name, spec] of expected) {
    const t = dict.get(name);
    if (!t) missing.push(name);
    else if (t.dtype !== spec.dtype || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      mismatched.push(`${name}: ${t.dtype} ${JSON.stringify(t.shape)}, expected ${spec.dtype} ${JSON.stringify(spec.shape)}`);
    }
  }
  const unexpected = [...dict.keys()].filter((name) => !expected.has(name));
  return { missing, unexpected, mismatched };
}

/** Throws one error listing every missing, unexpected and mismatched tensor by name. */
export function assertStateDict(dict: StateDict, expected: Map<string, TensorSpec>, file: string, { allowUnexpected = false } = {}): void {
  const r = compareStateDict(dict, expected);
  const problems = [
    ...r.mismatched.map((m) => `mismatched ${m}`),
    ...r.missing.map((m) => `missing ${m}`),
    ...(allowUnexpected ? [] : r.unexpected.map((m) => `unexpected ${m}`)),
  ];
  if (problems.length > 0) {
    throw new SafetensorsError(file, undefined, `does not fit the model (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`);
  }
}
