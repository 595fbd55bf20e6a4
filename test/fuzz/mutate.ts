// Mutations of valid files, for the parser fuzzer: byte-level damage (truncation, bit flips,
// lying lengths), and structure-aware changes that get past checksums and syntax to reach the
// deeper checks: pickle opcodes (including hostile globals such as os.system), JSON values and
// text lines. Every function draws only from the Rng it is given, so an input is reproducible
// from its seed.
import { Rng } from '../../src/util/rng.js';

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length)];
const chance = (rng: Rng, p: number): boolean => rng.float() < p;

// Integers that break length and size arithmetic: zero, one, sign and width boundaries.
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
const INTERESTING64 = [0n, 1n, 0x7fffffffn, 0xffffffffn, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One byte-level mutation: truncation, bit flips, lying integers, deleted/duplicated/inserted runs. */
export function mutateBytes(rng: Rng, input: Uint8Array, donor?: Uint8Array): Uint8Array {
  const b = Uint8Array.from(input);
  const n = b.length;
  const at = () => rng.int(0, Math.max(1, n));
  switch (rng.int(0, 9)) {
    case 0: // truncate
      return b.subarray(0, at());
    case 1: // flip bits
      for (let k = rng.int(1, 9); k > 0 && n > 0; k--) b[at()] ^= 1 << rng.int(0, 8);
      return b;
    case 2: // interesting bytes
      for (let k = rng.int(1, 5); k > 0 && n > 0; k--) b[at()] = pick(rng, [0, 0xff, 0x7f, 0x80, 1]);
      return b;
    case 3: {
      // a lying 16/32-bit integer, either endianness, often on an aligned offset (sizes and dims are)
      if (n < 4) return b;
      const width = pick(rng, [2, 4]);
      const pos = chance(rng, 0.5) ? rng.int(0, ((n - width) >> 2) + 1) * 4 : rng.int(0, n - width + 1);
      const v = pick(rng, INTERESTING);
      const dv = new DataView(b.buffer);
      if (width === 2) dv.setUint16(pos, v & 0xffff, chance(rng, 0.5));
      else dv.setUint32(pos, v >>> 0, chance(rng, 0.5));
      return b;
    }
    case 4: {
      // a lying 64-bit integer
      if (n < 8) return b;
      const pos = chance(rng, 0.5) ? rng.int(0, ((n - 8) >> 3) + 1) * 8 : rng.int(0, n - 7);
      new DataView(b.buffer).setBigUint64(pos, BigInt.asUintN(64, pick(rng, INTERESTING64)), chance(rng, 0.5));
      return b;
    }
    case 5: {
      // delete a run
      const s = at();
      return concat(b.subarray(0, s), b.subarray(Math.min(n, s + rng.int(1, 65))));
    }
    case 6: {
      // duplicate a run
      const s = at();
      const e = Math.min(n, s + rng.int(1, 65));
      return concat(b.subarray(0, e), b.subarray(s, e), b.subarray(e));
    }
    case 7: {
      // insert random bytes, or a piece of another valid file
      const s = at();
      let piece: Uint8Array;
      if (donor && donor.length > 0 && chance(rng, 0.5)) {
        const d = rng.int(0, donor.length);
        piece = donor.subarray(d, Math.min(donor.length, d + rng.int(1, 257)));
      } else {
        piece = Uint8Array.from({ length: rng.int(1, 33) }, () => rng.int(0, 256));
      }
      return concat(b.subarray(0, s), piece, b.subarray(s));
    }
    default: // garbage at the end
      return concat(b, Uint8Array.from({ length: rng.int(1, 65) }, () => rng.int(0, 256)));
  }
}

/** 1 to 4 byte-level mutations in a row. */
export function damage(rng: Rng, input: Uint8Array, donor?: Uint8Array): Uint8Array {
  let b = input;
  for (let k = rng.int(1, 5); k > 0; k--) b = mutateBytes(rng, b, donor);
  return b;
}

// ---------- pickles ----------

type ArgKind = 'none' | 'u8' | 'u16' | 'i32' | 'u64' | 'f64' | 'len8' | 'len32' | 'len64' | 'line' | 'line2';
const OPCODES: Record<number, ArgKind> = {};
const def = (kind: ArgKind, chars: string) => {
  for (const c of chars) OPCODES[c.charCodeAt(0)] = kind;
};
def('none', '(.012N\x88\x89)t\x85\x86\x87]lae}dsu\x94\x93R\x81\x92b\x8f\x90\x91Q\x97\x98');
def('u8', '\x80Kqh');
def('u16', 'M');
def('i32', 'Jrj');
def('u64', '\x95');
def('f64', 'G');
def('len8', '\x8aUC\x8c');
def('len32', '\x8bTXB');
def('len64', '\x8d\x8e\x96');
def('line', 'ILFSVpgP');
def('line2', 'ci');

export interface PickleOp {
  pos: number;
  op: number;
  end: number;
  kind: ArgKind;
}

/**
 * The opcodes of the pickles that start at `start` (several back to back, as in legacy torch
 * files), up to the first byte that does not start another pickle.
 */
export function pickleOps(bytes: Uint8Array, start = 0): { ops: PickleOp[]; pickles: number[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ops: PickleOp[] = [];
  const pickles: number[] = [];
  let pos = start;
  let inside = false;
  while (pos < bytes.length) {
    if (!inside) {
      if (bytes[pos] !== 0x80) break;
      pickles.push(ops.length);
      inside = true;
    }
    const op = bytes[pos];
    const kind = OPCODES[op];
    if (kind === undefined) break;
    let end = pos + 1;
    const line = () => {
      const nl = bytes.indexOf(0x0a, end);
      if (nl < 0) return bytes.length + 1;
      return nl + 1;
    };
    switch (kind) {
      case 'u8': end += 1; break;
      case 'u16': end += 2; break;
      case 'i32': end += 4; break;
      case 'u64': case 'f64': end += 8; break;
      case 'len8': end += 1 + (end < bytes.length ? bytes[end] : 0); break;
      case 'len32': end += 4 + (end + 4 <= bytes.length ? dv.getUint32(end, true) : 0); break;
      case 'len64': end += 8 + (end + 8 <= bytes.length ? Number(dv.getBigUint64(end, true)) : 0); break;
      case 'line': end = line(); break;
      case 'line2': end = line(); if (end <= bytes.length) end = line(); break;
      default: break;
    }
    if (end > bytes.length) break;
    ops.push({ pos, op, end, kind });
    pos = end;
    if (op === 0x2e) inside = false; // STOP
  }
  return { ops, pickles };
}

const latin1 = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const u32le = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const unicode = (s: string) => {
  const t = Uint8Array.from(Buffer.from(s, 'utf8'));
  return concat(latin1('X'), u32le(t.length), t);
};
const shortUnicode = (s: string) => {
  const t = Uint8Array.from(Buffer.from(s, 'utf8'));
  return concat(Uint8Array.of(0x8c, t.length), t);
};

/** Globals an attacker would put in a pickle: anything that runs code or touches the system. */
export const HOSTILE_GLOBALS: [string, string][] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['__builtin__', 'eval'],
  ['builtins', '__import__'],
  ['builtins', 'getattr'],
  ['builtins', 'open'],
  ['subprocess', 'Popen'],
  ['subprocess', 'check_output'],
  ['shutil', 'rmtree'],
  ['pickle', 'loads'],
  ['torch', 'load'],
  ['torch.serialization', 'load'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['__main__', 'Evil'],
  ['collections', 'OrderedDict.__class__'],
];

export interface Hostile {
  /** The pickle bytes pushing one value. */
  bytes: Uint8Array;
  /** What a reader that refuses it must say. */
  expect: RegExp;
  global: string;
}

/**
 * A pickle fragment that, if a reader ran it like Python, would call a hostile global with a
 * command that creates `canary`: through GLOBAL or STACK_GLOBAL then REDUCE or NEWOBJ, or the
 * INST and OBJ opcodes.
 */
export function hostileFragment(rng: Rng, canary: string): Hostile {
  const [module, name] = pick(rng, HOSTILE_GLOBALS);
  const global = `${module}.${name}`;
  const command = name === 'system' || name === 'Popen' || name === 'check_output' ? `touch ${canary}` : `open(${JSON.stringify(canary)}, "w")`;
  const refused = new RegExp(`refusing global '${global.replace(/[.$()]/g, '\\$&')}'`);
  const args = concat(latin1('('), unicode(command), latin1('t'));
  switch (rng.int(0, 5)) {
    case 0: // GLOBAL, REDUCE
      return { bytes: concat(latin1(`c${module}\n${name}\n`), args, latin1('R')), expect: refused, global };
    case 1: // STACK_GLOBAL, REDUCE
      return { bytes: concat(shortUnicode(module), shortUnicode(name), Uint8Array.of(0x93), args, latin1('R')), expect: refused, global };
    case 2: // GLOBAL, NEWOBJ, BUILD with a __setstate__-style dict
      return { bytes: concat(latin1(`c${module}\n${name}\n`), latin1(')'), Uint8Array.of(0x81), latin1('}'), shortUnicode('cmd'), unicode(command), latin1('sb')), expect: refused, global };
    case 3: // INST: module and name inline, arguments after a MARK
      return { bytes: concat(latin1('('), unicode(command), latin1(`i${module}\n${name}\n`)), expect: /opcode INST \(0x69\) is not supported/, global };
    default: // OBJ: class and arguments after a MARK
      return { bytes: concat(latin1('('), latin1(`c${module}\n${name}\n`), unicode(command), latin1('o')), expect: /refusing global|opcode OBJ \(0x6f\) is not supported/, global };
  }
}

const STRING_SWAPS = [
  'FloatStorage', 'DoubleStorage', 'HalfStorage', 'LongStorage', 'BoolStorage', 'ByteStorage', 'QInt8Storage',
  'ComplexFloatStorage', 'UntypedStorage', 'storage', 'cpu', 'cuda:0', '0', '1', '99999', '../../etc/passwd', '',
  'torch._utils', '_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_qtensor', '_rebuild_sparse_tensor',
  'collections', 'OrderedDict', 'module', 'weight', '\u0000', 'é'.repeat(40),
];

/** Re-encodes an opcode's argument: a lying length, an extreme integer, or another string. */
function mutateOp(rng: Rng, bytes: Uint8Array, op: PickleOp): Uint8Array {
  const head = bytes.subarray(0, op.pos + 1);
  const tail = bytes.subarray(op.end);
  const arg = Uint8Array.from(bytes.subarray(op.pos + 1, op.end));
  const dv = new DataView(arg.buffer);
  switch (op.kind) {
    case 'u8':
      arg[0] = pick(rng, [0, 1, 5, 0x7f, 0xff]);
      break;
    case 'u16':
      dv.setUint16(0, pick(rng, [0, 1, 0x7fff, 0xffff]), true);
      break;
    case 'i32':
      dv.setInt32(0, pick(rng, [0, -1, 1, 0x7fffffff, -0x80000000, 1 << 24]), true);
      break;
    case 'u64':
    case 'len64':
      dv.setBigUint64(0, BigInt.asUintN(64, pick(rng, INTERESTING64)), true);
      break;
    case 'f64':
      dv.setFloat64(0, pick(rng, [NaN, Infinity, -0, 1e308, 2 ** 53]), false);
      break;
    case 'len8':
      if (op.op === 0x8a) {
        // LONG1: a huge or negative integer (sizes, offsets, numel)
        const v = pick(rng, [2n ** 63n, -1n, 2n ** 64n + 5n, 2n ** 53n + 1n]);
        const hex = BigInt.asUintN(72, v).toString(16).padStart(18, '0');
        const le = Uint8Array.from(Buffer.from(hex, 'hex').reverse());
        return concat(head, Uint8Array.of(le.length), le, tail);
      }
      if (chance(rng, 0.3)) {
        arg[0] = pick(rng, [0, 0xff, arg[0] + 1]);
        break;
      }
      return concat(head.subarray(0, op.pos), shortUnicode(pick(rng, STRING_SWAPS)), tail);
    case 'len32':
      if (chance(rng, 0.4)) {
        dv.setUint32(0, pick(rng, [0, 0x7fffffff, 0xffffffff, 0x80000000]), true);
        break;
      }
      return concat(head.subarray(0, op.pos), unicode(pick(rng, STRING_SWAPS)), tail);
    case 'line':
    case 'line2':
      return concat(head, latin1(`${pick(rng, STRING_SWAPS)}\n`), op.kind === 'line2' ? latin1(`${pick(rng, STRING_SWAPS)}\n`) : new Uint8Array(0), tail);
    default:
      // replace the opcode itself
      return concat(head.subarray(0, op.pos), Uint8Array.of(pick(rng, Object.keys(OPCODES).map(Number))), tail);
  }
  return concat(head, arg, tail);
}

/** A structure-aware pickle mutation: opcodes deleted, duplicated, swapped or re-encoded. */
export function mutatePickle(rng: Rng, bytes: Uint8Array, ops: PickleOp[]): Uint8Array {
  if (ops.length < 2) return mutateBytes(rng, bytes);
  const a = ops[rng.int(1, ops.length)];
  switch (rng.int(0, 5)) {
    case 0: // delete
      return concat(bytes.subarray(0, a.pos), bytes.subarray(a.end));
    case 1: // duplicate
      return concat(bytes.subarray(0, a.end), bytes.subarray(a.pos, a.end), bytes.subarray(a.end));
    case 2: {
      // move an opcode elsewhere
      const b = ops[rng.int(1, ops.length)];
      const without = concat(bytes.subarray(0, a.pos), bytes.subarray(a.end));
      const at = b.pos > a.pos ? b.pos - (a.end - a.pos) : b.pos;
      return concat(without.subarray(0, at), bytes.subarray(a.pos, a.end), without.subarray(at));
    }
    default:
      return mutateOp(rng, bytes, a);
  }
}

/** Inserts `fragment` before opcode `index` (a boundary, so everything before it still runs). */
export function insertAt(bytes: Uint8Array, ops: PickleOp[], index: number, fragment: Uint8Array): Uint8Array {
  const pos = ops[index].pos;
  return concat(bytes.subarray(0, pos), fragment, bytes.subarray(pos));
}

// ---------- JSON ----------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function deepArray(depth: number): Json {
  let v: Json = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const hostileValue = (rng: Rng): Json =>
  pick(rng, [
    () => null, () => true, () => false, () => 0, () => -1, () => 1.5, () => 1e308, () => -1e308, () => 2 ** 53 + 2,
    () => 4294967296, () => 1e7, () => 1e9, () => '', () => 'x', () => '../../../etc/passwd', () => '1', () => [], () => ({}), () => [null],
    () => JSON.parse('{"__proto__": {"polluted": true}}') as Json, () => ({ constructor: { prototype: { polluted: true } } }),
    () => deepArray(rng.int(10, 500)), () => 'é'.repeat(rng.int(1, 100000)), () => Array.from({ length: 1000 }, (_, i) => i),
  ])();

/** Paths (keys and indices) to the nodes of a JSON value, at most 5000 of them, at most 200 deep. */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = [], budget = { n: 5000 }): (string | number)[][] {
  if (budget.n-- <= 0 || prefix.length > 200) return out;
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((e, i) => paths(e, [...prefix, i], out, budget));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...prefix, k], out, budget);
  return out;
}

/** One structural change to a JSON document: a value replaced, a key dropped, an element duplicated. */
export function mutateJson(rng: Rng, value: unknown): unknown {
  const root = JSON.parse(JSON.stringify(value)) as Json;
  const all = paths(root);
  const path = pick(rng, all);
  if (path.length === 0) return hostileValue(rng);
  let parent = root as { [k: string]: Json } | Json[];
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k] as typeof parent;
  const key = path[path.length - 1];
  const op = rng.int(0, 5);
  if (Array.isArray(parent)) {
    const i = key as number;
    if (op === 0) parent.splice(i, 1);
    else if (op === 1) parent.splice(i, 0, JSON.parse(JSON.stringify(parent[i])) as Json);
    else parent[i] = hostileValue(rng);
  } else {
    const k = key as string;
    if (op === 0) delete parent[k];
    // defineProperty: a plain assignment to '__proto__' would set the prototype, not a key.
    else if (op === 1) Object.defineProperty(parent, pick(rng, ['__proto__', 'constructor', `${k}_`, '']), { value: hostileValue(rng), enumerable: true, writable: true, configurable: true });
    else parent[k] = hostileValue(rng);
  }
  return root;
}

/** A JSON file mutated: usually structurally (still valid JSON), sometimes byte-level. */
export function mutateJsonText(rng: Rng, text: string): Uint8Array {
  let value: unknown = JSON.parse(text);
  for (let k = rng.int(1, 4); k > 0; k--) value = mutateJson(rng, value);
  let json = JSON.stringify(value, null, chance(rng, 0.5) ? 1 : undefined);
  if (chance(rng, 0.05)) {
    // Nesting far deeper than any recursive walker's stack: a number replaced by [[[...]]].
    const numbers = [...json.matchAll(/-?\d+(\.\d+)?/g)];
    if (numbers.length > 0) {
      const m = pick(rng, numbers);
      const d = rng.int(10000, 200000);
      json = json.slice(0, m.index) + '['.repeat(d) + ']'.repeat(d) + json.slice(m.index! + m[0].length);
    }
  }
  const out = Uint8Array.from(Buffer.from(json, 'utf8'));
  return chance(rng, 0.2) ? damage(rng, out) : out;
}

// ---------- text lines ----------

const TOKENS = [
  '-1', '0', '1', '2', '999999999', '99999999999999999999', '1e3', '0x10', '1.5', 'NaN', '+3', '', 'a b', '１',
  '\u0000', '\uFEFF', '../../etc/passwd', '/abs/path.jpg', 'x'.repeat(100000), '2147483648', '-2147483649',
];

/** One change to a whitespace-separated text file: lines dropped, duplicated, fields replaced. */
export function mutateLines(rng: Rng, bytes: Uint8Array): Uint8Array {
  if (chance(rng, 0.15)) return damage(rng, bytes);
  const lines = Buffer.from(bytes).toString('utf8').split('\n');
  const i = rng.int(0, lines.length);
  switch (rng.int(0, 7)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[i]);
      break;
    case 2: {
      const j = rng.int(0, lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      break;
    }
    case 3:
      lines.splice(i, 0, pick(rng, ['', '   ', '\r', pick(rng, TOKENS)]));
      break;
    case 4: {
      // replace one field
      const fields = lines[i].split(' ');
      fields[rng.int(0, fields.length)] = pick(rng, TOKENS);
      lines[i] = fields.join(' ');
      break;
    }
    case 5: {
      // add or remove a field
      const fields = lines[i].split(' ');
      if (chance(rng, 0.5) && fields.length > 1) fields.pop();
      else fields.push(pick(rng, TOKENS));
      lines[i] = fields.join(' ');
      break;
    }
    default:
      return Uint8Array.from(Buffer.from(lines.join(pick(rng, ['\r\n', '\n\n', '\t'])), 'utf8'));
  }
  return Uint8Array.from(Buffer.from(lines.join('\n'), 'utf8'));
}
