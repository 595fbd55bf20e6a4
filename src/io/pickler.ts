// Writes the pickle inside a .pth file: plain data and tensors, laid out as torch.save (protocol 2)
// does, so PyTorch's torch.load reads it. Each tensor becomes
//   torch._utils._rebuild_tensor_v2(<persistent id>, 0, shape, contiguous strides, False, OrderedDict())
// with persistent id ('storage', torch.FloatStorage, '<n>', 'cpu', numel); its bytes become storage n.
//
// JS values map back to Python as the unpickler maps them forward: Map -> OrderedDict,
// plain object -> dict, array -> list, frozen array -> tuple, integral number or bigint -> int,
// other number -> float, string -> str, Uint8Array -> bytes, null/undefined -> None, boolean -> bool.
// (So a float with an integral value, such as 1.0, is saved as the int 1.)
// Like Python's pickler, an object met twice is written once and then referred to, so a tensor
// shared by two entries is still one tensor in PyTorch.
import { type DType, type RawTensor, dtypeSize, isRawTensor, numel } from './raw.js';

const STORAGE_CLASS: Record<DType, string> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

// Python's pickle nests no deeper than its recursion limit either; deeper input is a cycle or a mistake.
const MAX_DEPTH = 1000;
// Python's pickler batches SETITEMS/APPENDS by this many items.
const BATCH = 1000;

/** The pickle bytes and the storages (tensor data) that its persistent ids '0', '1', ... refer to. */
export function pickleForTorch(value: unknown, file: string): { pickle: Uint8Array; storages: Uint8Array[] } {
  const out = new ByteWriter();
  const storages: Uint8Array[] = [];
  // Objects (by identity) and globals (by "module\nname\n") already written, to their memo index.
  const memo = new Map<unknown, number>();
  const remember = (key: unknown) => {
    const index = memo.size;
    memo.set(key, index);
    if (index < 0x100) {
      out.op(0x71, index); // BINPUT
    } else {
      out.op(0x72); // LONG_BINPUT
      out.u32(index);
    }
  };
  const recall = (key: unknown): boolean => {
    const index = memo.get(key);
    if (index === undefined) return false;
    if (index < 0x100) {
      out.op(0x68, index); // BINGET
    } else {
      out.op(0x6a); // LONG_BINGET
      out.u32(index);
    }
    return true;
  };

  const global = (module: string, name: string) => {
    const key = `${module}\n${name}\n`;
    if (recall(key)) return;
    out.op(0x63); // GLOBAL
    out.bytes(Buffer.from(key, 'utf8'));
    remember(key);
  };
  const int = (v: number | bigint) => {
    if (typeof v === 'number' && v >= 0 && v < 0x100) {
      out.op(0x4b, v); // BININT1
    } else if (typeof v === 'number' && v >= 0 && v < 0x10000) {
      out.op(0x4d); // BININT2
      out.u16(v);
    } else if (typeof v === 'number' && v >= -0x80000000 && v < 0x80000000) {
      out.op(0x4a); // BININT
      out.i32(v);
    } else {
      const bytes = twosComplement(BigInt(v));
      if (bytes.length > 0xff) throw new Error(`${file}: integer ${v} is too large to save`);
      out.op(0x8a, bytes.length); // LONG1
      out.bytes(bytes);
    }
  };
  const str = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    out.op(0x58); // BINUNICODE
    out.u32(bytes.length);
    out.bytes(bytes);
  };
  const tuple = (items: readonly unknown[], path: string, depth: number) => {
    if (items.length === 0) {
      out.op(0x29); // EMPTY_TUPLE
      return;
    }
    if (items.length > 3) out.op(0x28); // MARK
    items.forEach((item, i) => write(item, `${path}[${i}]`, depth + 1));
    out.op(items.length > 3 ? 0x74 : 0x84 + items.length); // TUPLE or TUPLE1..3
    remember(items);
  };
  const items = (entries: [unknown, unknown][], path: string, depth: number) => {
    for (let i = 0; i < entries.length; i += BATCH) {
      out.op(0x28); // MARK
      for (const [k, v] of entries.slice(i, i + BATCH)) {
        write(k, `${path} (a key)`, depth + 1);
        write(v, path === '' ? String(k) : `${path}.${String(k)}`, depth + 1);
      }
      out.op(0x75); // SETITEMS
    }
  };
  const tensor = (t: RawTensor, path: string) => {
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${file}: tensor ${describe(path)} has shape [${t.shape}]; expected non-negative integers`);
    }
    const n = numel(t.shape);
    if (t.data.length !== n * dtypeSize(t.dtype)) {
      throw new Error(
        `${file}: tensor ${describe(path)} has ${t.data.length} bytes but ${t.dtype} [${t.shape}] ` +
          `needs ${n * dtypeSize(t.dtype)}`,
      );
    }
    const strides = t.shape.map((_, d) => numel(t.shape.slice(d + 1)));
    global('torch._utils', '_rebuild_tensor_v2');
    out.op(0x28); // MARK: the arguments
    out.op(0x28); // MARK: the persistent id
    str('storage');
    global('torch', STORAGE_CLASS[t.dtype]);
    str(String(storages.length));
    str('cpu');
    int(n);
    out.op(0x74); // TUPLE
    out.op(0x51); // BINPERSID
    storages.push(t.data);
    int(0); // storage offset
    tuple([...t.shape], path, 0); // a copy: the shape array is not a value of its own
    tuple(strides, path, 0);
    out.op(0x89); // NEWFALSE: requires_grad
    global('collections', 'OrderedDict'); // backward hooks: none
    out.op(0x29); // EMPTY_TUPLE
    out.op(0x52); // REDUCE
    out.op(0x74); // TUPLE
    out.op(0x52); // REDUCE
    remember(t);
  };
  const write = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Error(`${file}: ${describe(path)} is nested more than ${MAX_DEPTH} deep (a cycle?)`);
    if (v === null || v === undefined) return out.op(0x4e); // NONE
    if (v === true) return out.op(0x88); // NEWTRUE
    if (v === false) return out.op(0x89); // NEWFALSE
    if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) return int(v);
    if (typeof v === 'number') {
      out.op(0x47); // BINFLOAT
      return out.f64(v);
    }
    if (typeof v === 'string') return str(v);
    if (recall(v)) return;
    if (isRawTensor(v)) return tensor(v, path);
    if (v instanceof Uint8Array) {
      out.op(0x42); // BINBYTES: protocol 3, which every Python 3 reads
      out.u32(v.length);
      out.bytes(v);
      return remember(v);
    }
    if (Array.isArray(v)) {
      if (Object.isFrozen(v)) return tuple(v, path, depth);
      out.op(0x5d); // EMPTY_LIST
      remember(v); // before the items, so that a list may contain itself
      for (let i = 0; i < v.length; i += BATCH) {
        out.op(0x28); // MARK
        v.slice(i, i + BATCH).forEach((item, j) => write(item, `${path}[${i + j}]`, depth + 1));
        out.op(0x65); // APPENDS
      }
      return;
    }
    if (v instanceof Map) {
      global('collections', 'OrderedDict');
      out.op(0x29); // EMPTY_TUPLE
      out.op(0x52); // REDUCE
      remember(v);
      return items([...v], path, depth);
    }
    const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
    if (proto === Object.prototype || proto === null) {
      out.op(0x7d); // EMPTY_DICT
      remember(v);
      return items(Object.entries(v as object), path, depth);
    }
    throw new Error(
      `${file}: ${describe(path)} is ${proto?.constructor?.name ?? typeof v}, which cannot be saved; ` +
        'expected tensors, Maps, plain objects, arrays, strings, numbers, booleans, null or Uint8Array',
    );
  };

  out.op(0x80, 2); // PROTO 2, as torch.save writes
  write(value, '', 0);
  out.op(0x2e); // STOP
  return { pickle: out.result(), storages };
}

function describe(path: string): string {
  return path === '' ? 'the saved value' : `'${path}'`;
}

function twosComplement(v: bigint): Uint8Array {
  const bytes: number[] = [];
  // Emit little-endian bytes until the rest is pure sign extension of the last byte.
  for (;;) {
    const byte = Number(v & 0xffn);
    bytes.push(byte);
    v >>= 8n;
    if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) return Uint8Array.from(bytes);
  }
}

/** An append-only byte buffer that doubles as it grows. */
class ByteWriter {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  private length = 0;

  /** An opcode, and its one-byte argument if it has one. */
  op(code: number, arg?: number): void {
    this.reserve(2);
    this.buf[this.length++] = code;
    if (arg !== undefined) this.buf[this.length++] = arg;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, false); // BINFLOAT is big-endian
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}
