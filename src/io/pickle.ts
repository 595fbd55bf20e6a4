// A safe unpickler for the files torch.save writes. Python's pickle is a small stack machine whose
// GLOBAL and REDUCE opcodes import and call arbitrary Python functions; this one never runs code.
// It builds only plain data (dicts, lists, tuples, sets, strings, numbers, bytes, None, bools) and
// tensors, and resolves a global only if it is on the allow-list below: any other name is refused.
// With `inertObjects`, other globals instead become inert records (PyObject): enough to read a
// whole pickled nn.Module's weights, still without running anything.
//
// Python values become: dict and OrderedDict -> Map (insertion order kept), list -> array,
// tuple -> frozen array, set -> Set, int -> number (bigint beyond 2^53), float -> number,
// str -> string, bytes -> Uint8Array, None -> null, bool -> boolean, tensor -> RawTensor.
//
// The machine is iterative, so deep nesting cannot overflow the JS stack, and every length is
// checked against the bytes left, so a lying length cannot make it allocate more than the input.
import { type DType, isRawTensor } from './raw.js';
import { Storage, StorageType, viewTensor } from './storage.js';

/**
 * What an object of a non-allow-listed class becomes with `inertObjects`: its class name, the
 * arguments it was created with, and the state (usually its `__dict__` as a Map) set on it.
 */
export class PyObject {
  state: unknown = null;
  constructor(
    readonly className: string,
    readonly args: readonly unknown[],
  ) {}
}

/** A non-allow-listed global under `inertObjects`: only a name, called to make a PyObject. */
class InertGlobal {
  constructor(readonly name: string) {}
}

/** An allow-listed Python callable, implemented without executing anything. */
class PyCallable {
  constructor(
    readonly name: string,
    readonly call: (args: readonly unknown[], fail: (msg: string) => never) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** Names the pickle in errors, e.g. the path of the .pth file. */
  source: string;
  /** Resolves a persistent id (BINPERSID); PyTorch uses them to refer to storages. */
  persistentLoad: (pid: unknown) => unknown;
  /** Byte offset to start at (legacy torch files hold several pickles back to back). */
  start?: number;
  /** Build objects of other classes as inert PyObject records instead of refusing them. */
  inertObjects?: boolean;
}

const STORAGE_TYPES: [string, DType][] = [
  ['FloatStorage', 'float32'],
  ['DoubleStorage', 'float64'],
  ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'],
  ['CharStorage', 'int8'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
];

const allow = (name: string, call: PyCallable['call']): [string, PyCallable] => [name, new PyCallable(name, call)];

const ALLOWED = new Map<string, PyCallable | StorageType>([
  ...STORAGE_TYPES.map(([name, dtype]): [string, StorageType] => [`torch.${name}`, new StorageType(`torch.${name}`, dtype)]),
  allow('collections.OrderedDict', orderedDict),
  allow('torch._utils._rebuild_tensor_v2', rebuildTensor),
  allow('torch._utils._rebuild_parameter', rebuildParameter),
  allow('torch._utils._rebuild_parameter_with_state', rebuildParameter),
  // PyTorch 0.4 pickled a Parameter as Parameter(tensor, requires_grad).
  allow('torch.nn.parameter.Parameter', rebuildParameter),
  // Protocol 2 has no bytes opcode: Python 3 pickles bytes as _codecs.encode(text, 'latin1'),
  // and empty bytes as bytes().
  allow('_codecs.encode', encodeLatin1),
  allow('__builtin__.bytes', emptyBytes),
  allow('builtins.bytes', emptyBytes),
  // Nor set opcodes: set([...]). An nn.Module holds one since PyTorch 1.6.
  allow('__builtin__.set', set),
  allow('builtins.set', set),
  allow('__builtin__.frozenset', set),
  allow('builtins.frozenset', set),
]);

// OrderedDict() or, from Python 2 era files, OrderedDict([[key, value], ...]).
function orderedDict(args: readonly unknown[], fail: (msg: string) => never): Map<unknown, unknown> {
  if (args.length === 0) return new Map();
  const pairs = args[0];
  if (args.length !== 1 || !Array.isArray(pairs) || !pairs.every((p) => Array.isArray(p) && p.length === 2)) {
    fail('collections.OrderedDict: expected no arguments or one list of (key, value) pairs');
  }
  return new Map(pairs as [unknown, unknown][]);
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)
function rebuildTensor(args: readonly unknown[], fail: (msg: string) => never): unknown {
  const [storage, offset, size, stride] = args;
  if (args.length < 6 || args.length > 7) fail(`_rebuild_tensor_v2: expected 6 or 7 arguments, got ${args.length}`);
  if (!(storage instanceof Storage)) fail(`_rebuild_tensor_v2: expected a storage, got ${describe(storage)}`);
  if (typeof offset !== 'number' || !isNumbers(size) || !isNumbers(stride)) {
    fail('_rebuild_tensor_v2: expected an integer offset and tuples of integer sizes and strides');
  }
  const metadata = args[6];
  if (metadata != null && !(metadata instanceof Map && metadata.size === 0)) {
    fail('_rebuild_tensor_v2: tensor metadata (conjugate or negative bits) is not supported');
  }
  return viewTensor(storage, offset, size, stride);
}

// _rebuild_parameter(data, requires_grad, backward_hooks[, state]): a Parameter is its tensor.
function rebuildParameter(args: readonly unknown[], fail: (msg: string) => never): unknown {
  if (!isRawTensor(args[0])) fail(`_rebuild_parameter: expected a tensor, got ${describe(args[0])}`);
  return args[0];
}

function encodeLatin1(args: readonly unknown[], fail: (msg: string) => never): Uint8Array {
  const [text, encoding] = args;
  if (args.length !== 2 || typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    fail("_codecs.encode: only encode(text, 'latin1'), the way pickle stores bytes, is allowed");
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) fail('_codecs.encode: character out of latin-1 range');
    out[i] = c;
  }
  return out;
}

function set(args: readonly unknown[], fail: (msg: string) => never): Set<unknown> {
  if (args.length > 1 || (args.length === 1 && !Array.isArray(args[0]))) fail('set: expected no arguments or one list');
  return new Set(args[0] as unknown[] | undefined);
}

function emptyBytes(args: readonly unknown[], fail: (msg: string) => never): Uint8Array {
  if (args.length !== 0) fail('bytes: only bytes(), the way pickle stores empty bytes, is allowed');
  return new Uint8Array(0);
}

function isNumbers(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'number');
}

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof Map) return 'a dict';
  if (x instanceof Set) return 'a set';
  if (x instanceof PyObject) return `a ${x.className} object`;
  if (Array.isArray(x)) return Object.isFrozen(x) ? 'a tuple' : 'a list';
  if (isRawTensor(x)) return 'a tensor';
  if (x instanceof Storage) return 'a storage';
  if (x instanceof Uint8Array) return 'bytes';
  if (x instanceof PyCallable || x instanceof StorageType || x instanceof InertGlobal) return `'${x.name}'`;
  return `a ${typeof x}`;
}

// Opcodes that are valid pickle but never appear in the files this reader is for.
const UNSUPPORTED: Record<number, string> = {
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x56: 'UNICODE',
  0x70: 'PUT',
  0x67: 'GET',
  0x50: 'PERSID',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Runs the pickle at `options.start` up to its STOP; returns the value and the offset after STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): { value: unknown; end: number } {
  const { source, persistentLoad } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = options.start ?? 0;
  let opAt = pos;

  const fail = (msg: string): never => {
    throw new Error(`${source}: pickle opcode at byte ${opAt}: ${msg}`);
  };
  const need = (n: number) => {
    if (n > bytes.length - pos) fail(`needs ${n} bytes but only ${bytes.length - pos} remain (truncated or corrupt)`);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} is larger than the whole pickle (corrupt)`);
    return Number(v);
  };
  const text = (n: number): string => {
    const raw = take(n);
    try {
      return utf8.decode(raw);
    } catch {
      return fail('string is not valid UTF-8 (corrupt)');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated line (truncated or corrupt)');
    const s = text(end - pos);
    pos++; // the newline
    return s;
  };
  const pop = (): unknown => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow (corrupt pickle)');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow (corrupt pickle)');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const mark = marks.pop();
    if (mark === undefined) fail('no MARK to pop to (corrupt pickle)');
    return stack.splice(mark as number);
  };
  const memoGet = (key: number): unknown => {
    if (!memo.has(key)) fail(`memo has no entry ${key} (corrupt pickle)`);
    return memo.get(key);
  };
  const global = (module: string, name: string) => {
    const qualified = `${module}.${name}`;
    const allowed = ALLOWED.get(qualified);
    if (allowed) {
      stack.push(allowed);
    } else if (options.inertObjects) {
      stack.push(new InertGlobal(qualified));
    } else {
      throw new Error(
        `refusing global '${qualified}' in ${source}: only tensors, dicts, lists, tuples, strings and numbers ` +
          'are allowed (a whole pickled model? read it with { inertObjects: true })',
      );
    }
  };
  const call = (fn: unknown, args: unknown) => {
    if (!(fn instanceof PyCallable || fn instanceof InertGlobal)) return fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) return fail(`${fn.name}: arguments must be a tuple, got ${describe(args)}`);
    return fn instanceof InertGlobal ? new PyObject(fn.name, args) : fn.call(args, fail);
  };
  // cls.__new__(cls, *args): only OrderedDict among the allowed classes, or an inert object.
  const create = (cls: unknown, args: unknown) => {
    if (!(cls instanceof InertGlobal || (cls instanceof PyCallable && cls.name === 'collections.OrderedDict'))) {
      fail(`cannot create ${describe(cls)}`);
    }
    return call(cls, args);
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail(`cannot set items on ${describe(dict)}`);
    if (items.length % 2 !== 0) fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list) || Object.isFrozen(list)) fail(`cannot append to ${describe(list)}`);
    for (const item of items) (list as unknown[]).push(item);
  };
  const int = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    let hex = '';
    for (let i = raw.length - 1; i >= 0; i--) hex += raw[i].toString(16).padStart(2, '0');
    let v = BigInt('0x' + hex);
    if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    opAt = pos;
    if (pos >= bytes.length) fail('pickle ends without STOP (truncated)');
    const op = bytes[pos++];
    switch (op) {
      case 0x80: {
        // PROTO
        const protocol = u8();
        if (protocol > 5) fail(`pickle protocol ${protocol} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: a length prefix for buffering; the whole pickle is in memory already.
        u64();
        break;
      case 0x2e: {
        // STOP
        if (marks.length > 0 || stack.length !== 1) fail(`STOP with ${stack.length} values on the stack (corrupt pickle)`);
        return { value: stack[0], end: pos };
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
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
        stack.push(int(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(int(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str; torch.load decodes it as UTF-8)
        stack.push(text(u8()));
        break;
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(text(n));
        break;
      }
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(Object.freeze([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(Object.freeze([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()));
        break;
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module as string, name as string);
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(create(pop(), args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('NEWOBJ_EX: keyword arguments are not supported');
        stack.push(create(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state). An inert object keeps its state. On an OrderedDict, only
        // attributes occur (a state_dict's _metadata: module versions), which the tensors do not need.
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) {
          obj.state = state;
        } else if (!(obj instanceof Map) || !(state instanceof Map || state === null || Array.isArray(state))) {
          fail(`cannot set the state of ${describe(obj)} to ${describe(state)}`);
        }
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const target = top();
        if (!(target instanceof Set)) fail(`cannot add items to ${describe(target)}`);
        for (const item of items) (target as Set<unknown>).add(item);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      default: {
        const name = UNSUPPORTED[op];
        fail(name ? `opcode ${name} (0x${hex(op)}) is not supported` : `unknown opcode 0x${hex(op)} (corrupt pickle)`);
      }
    }
  }
}

function hex(op: number): string {
  return op.toString(16).padStart(2, '0');
}
