// A safe unpickler for Python pickle protocols 0–5 (the opcodes `torch.save` and the pickle module
// emit). It never runs anything: a GLOBAL/STACK_GLOBAL/INST opcode is looked up in the caller's
// allow-list and refused, naming `module.name`, when it is not there; REDUCE/NEWOBJ/BUILD only ever
// call the allow-list's own TypeScript functions. This is the defence against the known attack on
// `.pth` files (a __reduce__ that returns os.system or builtins.eval).

export class PickleError extends Error {
  override name = 'PickleError';
}

/** A Python dict (also OrderedDict): insertion-ordered, keys as JS primitives. */
export class PyDict {
  readonly entries = new Map<PyKey, unknown>();
  /** Attributes set by BUILD (e.g. a state dict's `_metadata`): kept, never interpreted. */
  attributes: unknown = null;
}
export type PyKey = string | number | bigint | boolean | null;

/** A Python tuple (kept apart from lists only so that messages can say which it was). */
export class PyTuple extends Array<unknown> {}

/** An allow-listed global: what REDUCE/NEWOBJ call with the pickled arguments, and what BUILD applies. */
export interface PyGlobal {
  readonly qualname: string;
  call?(args: unknown[]): unknown;
}

export interface UnpickleOptions {
  /** module.name → the allowed global; anything absent is refused. */
  globals: ReadonlyMap<string, PyGlobal>;
  /** Resolves a persistent id (PyTorch's storages); absent: a PERSID opcode is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** For messages: the file or the entry being read. */
  source: string;
}

const tuple = (items: unknown[]): PyTuple => {
  const t = new PyTuple();
  t.push(...items);
  return t;
};

function dictKey(k: unknown, where: () => string): PyKey {
  if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)) return k as PyKey;
  if (k instanceof PyTuple) return JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  throw new PickleError(`${where()}: unsupported dict key of type ${describe(k)}`);
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object' && v !== null && 'qualname' in v) return `global ${(v as PyGlobal).qualname}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

/** Little-endian two's-complement bytes → a number when it is a safe integer, else a bigint. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return Number.isSafeInteger(Number(v)) ? Number(v) : v;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Reads one pickle starting at `start`; returns the value and the offset just after its STOP opcode
 * (the legacy PyTorch format is several pickles in a row).
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions, start = 0): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let opAt = start;
  const where = () => `${options.source}: pickle byte ${opAt}`;
  const fail = (detail: string): never => {
    throw new PickleError(`${where()}: ${detail}`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated (needs ${n} bytes, ${bytes.length - pos} left)`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const u8 = () => take(1)[0]!;
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (n: number): string => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail('string is not valid UTF-8');
    }
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m!);
  };
  const lookup = (module: string, name: string): PyGlobal => {
    const qualname = `${module}.${name}`;
    const g = options.globals.get(qualname);
    if (!g) fail(`refused global ${qualname}: not in the allow-list of what a state dict needs (nothing was run)`);
    return g!;
  };
  const call = (callable: unknown, args: unknown, how: string): unknown => {
    const g = callable as PyGlobal;
    if (typeof g !== 'object' || g === null || !('qualname' in g)) fail(`${how} of a ${describe(callable)}, not an allowed global`);
    if (!(args instanceof PyTuple) && !Array.isArray(args)) fail(`${how} ${g.qualname}: arguments are a ${describe(args)}, not a tuple`);
    if (!g.call) fail(`${how} ${g.qualname}: this global cannot be called`);
    try {
      return g.call!([...(args as unknown[])]);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail(`${g.qualname}: ${(e as Error).message}`);
    }
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof PyDict)) fail(`SETITEM(S) on a ${describe(target)}`);
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).entries.set(dictKey(items[i], where), items[i + 1]);
  };
  const append = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target) || target instanceof PyTuple) fail(`APPEND(S) on a ${describe(target)}`);
    (target as unknown[]).push(...items);
  };

  for (;;) {
    opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && marks[marks.length - 1] === stack.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT (text; "00"/"01" are False/True)
        const s = line();
        if (s === '00' || s === '01') stack.push(s === '01');
        else if (/^-?\d+$/.test(s)) stack.push(Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s));
        else fail(`INT '${s}' is not an integer`);
        break;
      }
      case 0x4c: {
        // LONG (text)
        const s = line().replace(/L$/, '');
        if (!/^-?\d+$/.test(s)) fail(`LONG '${s}' is not an integer`);
        stack.push(Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s));
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(decodeLong(take(i32())));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`FLOAT '${s}' is not a number`);
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x56: // UNICODE (raw-unicode-escape text; ASCII in practice)
        stack.push(line());
        break;
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(latin1.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()));
        break;
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x67: // GET
        stack.push(memoGet(Number(line())));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(lookup(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(lookup(module as string, name as string));
        break;
      }
      case 0x69: {
        // INST "module\nname\n": a class called with the items since MARK
        const module = line();
        const g = lookup(module, line());
        stack.push(call(g, popMark(), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ: MARK cls args... OBJ
        const [cls, ...args] = popMark();
        stack.push(call(cls, args, 'OBJ'));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(call(callable, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: cls, args, kwargs
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof PyDict) || kwargs.entries.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state) — only dicts (attributes) and our own objects take it
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attributes = state;
        else if (typeof obj === 'object' && obj !== null && 'setState' in obj) (obj as { setState(s: unknown): void }).setState(state);
        else fail(`BUILD on a ${describe(obj)}`);
        break;
      }
      case 0x50: // PERSID (text id)
        stack.push(persistent(line()));
        break;
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        return fail('extension-registry opcodes (EXT1/2/4) are not supported');
      case 0x97:
      case 0x98:
        return fail('out-of-band buffers (protocol 5 NEXT_BUFFER/READONLY_BUFFER) are not supported');
      default:
        return fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  function memoGet(i: number): unknown {
    if (!memo.has(i)) fail(`memo entry ${i} is not set`);
    return memo.get(i);
  }
  function persistent(pid: unknown): unknown {
    if (!options.persistentLoad) fail('persistent id in a pickle that takes none');
    try {
      return options.persistentLoad!(pid);
    } catch (e) {
      if (e instanceof PickleError) throw e;
      return fail((e as Error).message);
    }
  }
}
