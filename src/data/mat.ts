// A reader for MATLAB level-5 .mat files (what `save` writes by default up to -v7, and what
// scipy.io.savemat writes): the annotation format of Oxford Flowers-102 and Stanford Cars.
// Supports numeric arrays (double, single, int*, uint*; real, complex, logical), char arrays,
// cell arrays and struct arrays, compressed (miCOMPRESSED) or not, little- or big-endian.
// Every read is bounds-checked; errors name the file and the variable path.
import { readFileSync } from 'node:fs';
import { inflateBounded, inflatePrefix } from '../io/inflate.js';

export type MatNumericClass = 'double' | 'single' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';
export type MatNumericData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A numeric array; `real` (and `imag`) hold prod(dims) values in MATLAB's column-major order. */
export interface MatNumeric {
  readonly kind: 'numeric';
  readonly class: MatNumericClass;
  readonly dims: number[];
  readonly real: MatNumericData;
  readonly imag?: MatNumericData;
  readonly logical: boolean;
}

/** A 2-D char array, as its rows (MATLAB pads rows to equal length with spaces). */
export interface MatChar {
  readonly kind: 'char';
  readonly dims: number[];
  readonly rows: string[];
}

/** A cell array; items in column-major order. */
export interface MatCell {
  readonly kind: 'cell';
  readonly dims: number[];
  readonly items: MatValue[];
}

/** A struct array; items (one Map of field → value per element) in column-major order. */
export interface MatStruct {
  readonly kind: 'struct';
  readonly dims: number[];
  readonly fields: string[];
  readonly items: Map<string, MatValue>[];
}

export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

// Data types of data elements (MAT-File Format, table 1-1).
const miINT8 = 1;
const miUINT8 = 2;
const miINT16 = 3;
const miUINT16 = 4;
const miINT32 = 5;
const miUINT32 = 6;
const miSINGLE = 7;
const miDOUBLE = 9;
const miINT64 = 12;
const miUINT64 = 13;
const miMATRIX = 14;
const miCOMPRESSED = 15;
const miUTF8 = 16;
const miUTF16 = 17;
const miUTF32 = 18;

const ELEMENT_SIZE: Record<number, number> = {
  [miINT8]: 1,
  [miUINT8]: 1,
  [miINT16]: 2,
  [miUINT16]: 2,
  [miINT32]: 4,
  [miUINT32]: 4,
  [miSINGLE]: 4,
  [miDOUBLE]: 8,
  [miINT64]: 8,
  [miUINT64]: 8,
  [miUTF8]: 1,
  [miUTF16]: 2,
  [miUTF32]: 4,
};

// Array classes (table 1-3).
const mxCELL = 1;
const mxSTRUCT = 2;
const mxCHAR = 4;
const NUMERIC_CLASS: Record<number, MatNumericClass> = {
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};
const UNSUPPORTED_CLASS: Record<number, string> = { 3: 'object', 5: 'sparse', 16: 'function handle', 17: 'opaque (MATLAB object)' };

const FLAG_COMPLEX = 0x08;
const FLAG_LOGICAL = 0x02;

/** Reads every variable of a .mat file. */
export function readMat(file: string): Map<string, MatValue> {
  return parseMat(readFileSync(file), file);
}

/** Parses the bytes of a .mat file; `file` names it in errors. */
export function parseMat(bytes: Uint8Array, file: string): Map<string, MatValue> {
  if (bytes.length < 128) throw new Error(`${file}: not a MAT-file (${bytes.length} bytes, a level-5 header is 128)`);
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, 116));
  if (text.startsWith('MATLAB 7.3')) {
    throw new Error(`${file}: MAT-file v7.3 (HDF5) is not supported; re-save it with save(..., '-v7')`);
  }
  const endian = String.fromCharCode(bytes[126], bytes[127]);
  if (!text.startsWith('MATLAB 5.0') || (endian !== 'IM' && endian !== 'MI')) {
    throw new Error(`${file}: not a MAT-file level 5 (header must start with 'MATLAB 5.0' and have endian mark 'IM' or 'MI')`);
  }
  const r = new Reader(bytes, endian === 'IM', file);
  const version = r.view.getUint16(124, r.little);
  if (version !== 0x0100) throw new Error(`${file}: unsupported MAT-file version 0x${version.toString(16)}, expected 0x0100`);

  const vars = new Map<string, MatValue>();
  let offset = 128;
  while (offset < bytes.length) {
    const el = r.element(offset, bytes.length, 'top level');
    offset = el.next;
    let matrix: Element;
    let reader: Reader;
    if (el.type === miCOMPRESSED) {
      // Inflated no further than the size the element's own tag declares.
      const where = `${file}: compressed data element at byte ${el.start}`;
      const tag = inflatePrefix('zlib', el.data, 8, where);
      if (tag.length < 8) throw new Error(`${where}: inflates to ${tag.length} bytes, less than an element tag`);
      const tagView = new DataView(tag.buffer, tag.byteOffset, 8);
      const small = tagView.getUint32(0, r.little) >>> 16 !== 0; // the small-element format: data in the tag
      const declared = small ? 8 : 8 + Math.ceil(tagView.getUint32(4, r.little) / 8) * 8;
      const inflated: Uint8Array = inflateBounded('zlib', el.data, declared, where, 'that its element tag declares');
      reader = new Reader(inflated, r.little, file);
      matrix = reader.element(0, inflated.length, `compressed element at byte ${el.start}`);
    } else {
      reader = r;
      matrix = el;
    }
    if (matrix.type !== miMATRIX) {
      throw new Error(`${file}: unexpected data element type ${matrix.type} at byte ${el.start}, expected miMATRIX (14)`);
    }
    const { name, value } = reader.matrix(matrix, '');
    vars.set(name, value);
  }
  return vars;
}

interface Element {
  type: number;
  data: Uint8Array;
  /** Byte offset of the element's tag (for messages). */
  start: number;
  /** Byte offset of the next element. */
  next: number;
}

class Reader {
  readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly little: boolean,
    readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(where: string, what: string): never {
    throw new Error(`${this.file}: ${where ? `${where}: ` : ''}${what}`);
  }

  /** Reads the data element whose tag starts at `offset`, within [offset, end). */
  element(offset: number, end: number, where: string): Element {
    if (offset + 8 > end) this.fail(where, `truncated data element tag at byte ${offset} (needs 8 bytes, ${end - offset} left)`);
    const first = this.view.getUint32(offset, this.little);
    if (first >>> 16 !== 0) {
      // Small data element: type and size share the first 4 bytes, data fills the next 4.
      const type = first & 0xffff;
      const n = first >>> 16;
      if (n > 4) this.fail(where, `bad small data element at byte ${offset}: ${n} bytes, at most 4`);
      return { type, data: this.bytes.subarray(offset + 4, offset + 4 + n), start: offset, next: offset + 8 };
    }
    const n = this.view.getUint32(offset + 4, this.little);
    const start = offset + 8;
    if (start + n > end) this.fail(where, `truncated data element at byte ${offset} (type ${first}, needs ${n} bytes, ${end - start} left)`);
    // Elements are padded to 8 bytes, except compressed ones, which are followed directly.
    const padded = first === miCOMPRESSED ? n : Math.ceil(n / 8) * 8;
    return { type: first, data: this.bytes.subarray(start, start + n), start: offset, next: Math.min(start + padded, end) };
  }

  /** Reads the subelements of an miMATRIX element. `path` is the parent's name, for messages. */
  matrix(el: Element, path: string): { name: string; value: MatValue } {
    // An empty miMATRIX stands for an empty array (e.g. [] inside a cell).
    if (el.data.length === 0) {
      return { name: '', value: { kind: 'numeric', class: 'double', dims: [0, 0], real: new Float64Array(0), logical: false } };
    }
    const sub = new Reader(el.data, this.little, this.file);
    const end = el.data.length;
    const where0 = path || `matrix at byte ${el.start}`;

    const flagsEl = sub.element(0, end, where0);
    if (flagsEl.type !== miUINT32 || flagsEl.data.length !== 8) sub.fail(where0, 'array flags must be 8 bytes of miUINT32');
    const flags = sub.numbers(flagsEl, where0) as number[];
    const classId = flags[0] & 0xff;
    const flagBits = (flags[0] >>> 8) & 0xff;

    const dimsEl = sub.element(flagsEl.next, end, where0);
    if (dimsEl.type !== miINT32) sub.fail(where0, `dimensions must be miINT32, got type ${dimsEl.type}`);
    const dims = sub.numbers(dimsEl, where0) as number[];
    if (dims.length < 2 || dims.some((d) => d < 0)) sub.fail(where0, `bad dimensions [${dims.join(', ')}]`);

    const nameEl = sub.element(dimsEl.next, end, where0);
    if (nameEl.type !== miINT8 && nameEl.type !== miUINT8) sub.fail(where0, `array name must be miINT8, got type ${nameEl.type}`);
    const name = new TextDecoder('latin1').decode(nameEl.data);
    const where = path === '' ? `variable '${name}'` : path;
    const count = dims.reduce((a, b) => a * b, 1);
    let offset = nameEl.next;

    const numeric = NUMERIC_CLASS[classId];
    if (numeric !== undefined) {
      const realEl = sub.element(offset, end, where);
      const real = sub.numeric(realEl, numeric, count, `${where} (real part)`);
      let imag: MatNumericData | undefined;
      if (flagBits & FLAG_COMPLEX) {
        const imagEl = sub.element(realEl.next, end, where);
        imag = sub.numeric(imagEl, numeric, count, `${where} (imaginary part)`);
      }
      const value: MatNumeric = { kind: 'numeric', class: numeric, dims, real, logical: (flagBits & FLAG_LOGICAL) !== 0, ...(imag && { imag }) };
      return { name, value };
    }
    switch (classId) {
      case mxCHAR:
        return { name, value: sub.char(sub.element(offset, end, where), dims, count, where) };
      case mxCELL: {
        const items: MatValue[] = [];
        for (let k = 0; k < count; k++) {
          const itemWhere = `${where}{${k + 1}}`;
          const item = sub.element(offset, end, itemWhere);
          if (item.type !== miMATRIX) sub.fail(itemWhere, `cell element must be miMATRIX, got type ${item.type}`);
          items.push(sub.matrix(item, itemWhere).value);
          offset = item.next;
        }
        return { name, value: { kind: 'cell', dims, items } };
      }
      case mxSTRUCT: {
        const lenEl = sub.element(offset, end, where);
        const fieldLength = (sub.numbers(lenEl, where) as number[])[0];
        const namesEl = sub.element(lenEl.next, end, where);
        if (!(fieldLength > 0) || namesEl.data.length % fieldLength !== 0) {
          sub.fail(where, `field names (${namesEl.data.length} bytes) are not a multiple of the field name length ${fieldLength}`);
        }
        const fields: string[] = [];
        for (let p = 0; p < namesEl.data.length; p += fieldLength) {
          const raw = namesEl.data.subarray(p, p + fieldLength);
          const nul = raw.indexOf(0);
          fields.push(new TextDecoder('latin1').decode(nul < 0 ? raw : raw.subarray(0, nul)));
        }
        offset = namesEl.next;
        // Each element of a struct with fields takes bytes in the file; without fields, nothing bounds the count but this.
        if (fields.length === 0 && count > this.bytes.length) sub.fail(where, `a struct array of ${count} elements without fields`);
        const items: Map<string, MatValue>[] = [];
        for (let k = 0; k < count; k++) {
          const item = new Map<string, MatValue>();
          for (const field of fields) {
            const fieldWhere = `${where}(${k + 1}).${field}`;
            const el = sub.element(offset, end, fieldWhere);
            if (el.type !== miMATRIX) sub.fail(fieldWhere, `struct field must be miMATRIX, got type ${el.type}`);
            item.set(field, sub.matrix(el, fieldWhere).value);
            offset = el.next;
          }
          items.push(item);
        }
        return { name, value: { kind: 'struct', dims, fields, items } };
      }
      default:
        return sub.fail(where, `array class ${UNSUPPORTED_CLASS[classId] ?? classId} is not supported`);
    }
  }

  /** The values of a numeric data element: numbers, or bigints for 64-bit integer types. */
  numbers(el: Element, where: string): number[] | bigint[] {
    const size = ELEMENT_SIZE[el.type];
    if (size === undefined || el.type === miUTF8 || el.type === miUTF16 || el.type === miUTF32) {
      this.fail(where, `expected a numeric data element, got type ${el.type}`);
    }
    if (el.data.length % size !== 0) this.fail(where, `${el.data.length} bytes is not a whole number of ${size}-byte values`);
    const v = new DataView(el.data.buffer, el.data.byteOffset, el.data.byteLength);
    const n = el.data.length / size;
    const le = this.little;
    switch (el.type) {
      case miINT64:
        return Array.from({ length: n }, (_, i) => v.getBigInt64(i * 8, le));
      case miUINT64:
        return Array.from({ length: n }, (_, i) => v.getBigUint64(i * 8, le));
    }
    const read: (o: number) => number = {
      [miINT8]: (o: number) => v.getInt8(o),
      [miUINT8]: (o: number) => v.getUint8(o),
      [miINT16]: (o: number) => v.getInt16(o, le),
      [miUINT16]: (o: number) => v.getUint16(o, le),
      [miINT32]: (o: number) => v.getInt32(o, le),
      [miUINT32]: (o: number) => v.getUint32(o, le),
      [miSINGLE]: (o: number) => v.getFloat32(o, le),
      [miDOUBLE]: (o: number) => v.getFloat64(o, le),
    }[el.type]!;
    return Array.from({ length: n }, (_, i) => read(i * size));
  }

  /** A numeric array of MATLAB class `cls`; the stored type may be narrower (MATLAB compacts). */
  numeric(el: Element, cls: MatNumericClass, count: number, where: string): MatNumericData {
    const values = this.numbers(el, where);
    if (values.length !== count) this.fail(where, `expected ${count} values (the product of the dimensions), found ${values.length}`);
    switch (cls) {
      case 'int64':
        return BigInt64Array.from(values as (number | bigint)[], (x) => BigInt(x));
      case 'uint64':
        return BigUint64Array.from(values as (number | bigint)[], (x) => BigInt(x));
    }
    const numbers = (values as (number | bigint)[]).map(Number);
    const make: Record<typeof cls, (v: number[]) => MatNumericData> = {
      double: (v) => Float64Array.from(v),
      single: (v) => Float32Array.from(v),
      int8: (v) => Int8Array.from(v),
      uint8: (v) => Uint8Array.from(v),
      int16: (v) => Int16Array.from(v),
      uint16: (v) => Uint16Array.from(v),
      int32: (v) => Int32Array.from(v),
      uint32: (v) => Uint32Array.from(v),
    };
    return make[cls](numbers);
  }

  /** A char array: its characters are stored column-major as UTF-16 code units or UTF-8/32. */
  char(el: Element, dims: number[], count: number, where: string): MatChar {
    if (dims.length !== 2) this.fail(where, `char arrays with ${dims.length} dimensions are not supported`);
    let chars: string[];
    if (el.type === miUTF8) {
      chars = Array.from(new TextDecoder('utf-8').decode(el.data));
    } else {
      const codes = this.numbers(el.type === miUTF16 ? { ...el, type: miUINT16 } : el.type === miUTF32 ? { ...el, type: miUINT32 } : el, where);
      chars = (codes as number[]).map((c) => (el.type === miUTF32 ? String.fromCodePoint(c) : String.fromCharCode(c)));
    }
    if (chars.length !== count) this.fail(where, `expected ${count} characters (the product of the dimensions), found ${chars.length}`);
    const [m, n] = dims;
    const rows = Array.from({ length: m }, (_, r) => Array.from({ length: n }, (_, c) => chars[r + c * m]).join(''));
    return { kind: 'char', dims, rows };
  }
}

// Accessors that turn MatValues into plain values, with errors naming the file and variable.

/** The values of a numeric array as numbers (64-bit integers must fit a double exactly). */
export function matNumbers(v: MatValue | undefined, where: string): number[] {
  if (v?.kind !== 'numeric') throw new Error(`${where}: expected a numeric array, got ${v ? v.kind : 'nothing'}`);
  return Array.from(v.real as ArrayLike<number | bigint>, (x) => {
    const n = Number(x);
    if (typeof x === 'bigint' && BigInt(n) !== x) throw new Error(`${where}: value ${x} does not fit a double`);
    return n;
  });
}

/** A scalar numeric value. */
export function matScalar(v: MatValue | undefined, where: string): number {
  const values = matNumbers(v, where);
  if (values.length !== 1) throw new Error(`${where}: expected a scalar, got ${values.length} values`);
  return values[0];
}

/** A string: a char array with one row (an empty char array gives ''). */
export function matString(v: MatValue | undefined, where: string): string {
  if (v?.kind !== 'char') throw new Error(`${where}: expected a char array, got ${v ? v.kind : 'nothing'}`);
  if (v.rows.length === 0) return '';
  if (v.rows.length !== 1) throw new Error(`${where}: expected a single-row string, got ${v.rows.length} rows`);
  return v.rows[0];
}

/** Strings from a cell array of strings, or the rows (right-trimmed) of a char matrix. */
export function matStrings(v: MatValue | undefined, where: string): string[] {
  if (v?.kind === 'cell') return v.items.map((item, k) => matString(item, `${where}{${k + 1}}`));
  if (v?.kind === 'char') return v.rows.map((row) => row.trimEnd());
  throw new Error(`${where}: expected a cell array of strings or a char matrix, got ${v ? v.kind : 'nothing'}`);
}

/** A variable of a .mat file, or an error naming the file and the missing variable. */
export function matVariable(vars: Map<string, MatValue>, name: string, file: string): MatValue {
  const v = vars.get(name);
  if (v === undefined) throw new Error(`${file}: no variable '${name}' (found: ${[...vars.keys()].join(', ') || 'none'})`);
  return v;
}
