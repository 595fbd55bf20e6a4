import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { matNumbers, matScalar, matString, matStrings, matVariable, parseMat, readMat } from '../../src/data/mat.js';
import { FIXTURES } from './util.js';

const TYPES = ['types_compressed.mat', 'types_plain.mat'];

describe('readMat on files written by scipy.io.savemat', () => {
  for (const name of TYPES) {
    it(`reads every kind of variable (${name})`, () => {
      const file = join(FIXTURES, 'mat', name);
      const v = readMat(file);
      const num = (key: string): unknown => {
        const x = v.get(key);
        assert.equal(x?.kind, 'numeric');
        return x.kind === 'numeric' ? x : undefined;
      };
      assert.deepEqual(num('dbl'), { kind: 'numeric', class: 'double', dims: [2, 3], real: Float64Array.from([1.5, 4, -2, 5, 3.25, 6]), logical: false });
      assert.deepEqual(matNumbers(v.get('sgl'), 'sgl'), [0.5, 1.5]);
      assert.deepEqual(v.get('i8'), { kind: 'numeric', class: 'int8', dims: [1, 2], real: Int8Array.from([-128, 127]), logical: false });
      assert.deepEqual(matNumbers(v.get('u8'), 'u8'), [0, 255]);
      assert.deepEqual(matNumbers(v.get('i16'), 'i16'), [-32768, 32767]);
      assert.deepEqual(matNumbers(v.get('u16'), 'u16'), [0, 65535]);
      assert.deepEqual(matNumbers(v.get('i32'), 'i32'), [-2147483648, 2147483647]);
      assert.deepEqual(matNumbers(v.get('u32'), 'u32'), [0, 4294967295]);
      const i64 = v.get('i64');
      assert.ok(i64?.kind === 'numeric' && i64.class === 'int64');
      assert.deepEqual([...(i64.real as BigInt64Array)], [-9007199254740993n, 5n]);
      assert.throws(() => matNumbers(i64, 'i64'), /does not fit a double/);
      const u64 = v.get('u64');
      assert.ok(u64?.kind === 'numeric');
      assert.deepEqual([...(u64.real as BigUint64Array)], [18446744073709551615n, 7n]);
      const flag = v.get('flag');
      assert.ok(flag?.kind === 'numeric' && flag.logical && flag.class === 'uint8');
      const cplx = v.get('cplx');
      assert.ok(cplx?.kind === 'numeric');
      assert.deepEqual([...cplx.real], [1, 3]);
      assert.deepEqual([...(cplx.imag ?? [])], [2, -4]);
      assert.equal(matString(v.get('str'), 'str'), 'hello');
      assert.equal(matString(v.get('uni'), 'uni'), 'Zürich ∑');
      assert.deepEqual(matStrings(v.get('chars'), 'chars'), ['abc', 'xyz']);
      const cell = v.get('cell');
      assert.ok(cell?.kind === 'cell');
      assert.deepEqual(cell.dims, [1, 3]);
      assert.equal(matString(cell.items[0], 'cell{1}'), 'one');
      assert.equal(matScalar(cell.items[1], 'cell{2}'), 2.5);
      assert.deepEqual(matNumbers(cell.items[2], 'cell{3}'), []);
      const person = v.get('person');
      assert.ok(person?.kind === 'struct');
      assert.deepEqual(person.fields, ['name', 'age']);
      assert.deepEqual(
        person.items.map((p) => [matString(p.get('name'), 'name'), matScalar(p.get('age'), 'age')]),
        [['Ada', 36], ['Alan', 41]],
      );
      assert.deepEqual(matNumbers(v.get('empty'), 'empty'), []);
      assert.throws(() => matVariable(v, 'nope', file), (e: Error) => e.message.includes(file) && /no variable 'nope' \(found: dbl, /.test(e.message));
    });
  }

  it('reports truncated files with the file name, at every cut', () => {
    const file = join(FIXTURES, 'mat', 'types_plain.mat');
    const bytes = readFileSync(file);
    for (const cut of [0, 100, 130, 200, 517, 1000, bytes.length - 3]) {
      assert.throws(() => parseMat(bytes.subarray(0, cut), file), (e: Error) => e.message.startsWith(`${file}: `));
    }
  });

  it('reports corrupt compressed data with the file name', () => {
    const file = join(FIXTURES, 'mat', 'types_compressed.mat');
    const bytes = Buffer.from(readFileSync(file));
    bytes.fill(0x55, 140, 170); // inside the first miCOMPRESSED element
    assert.throws(() => parseMat(bytes, file), (e: Error) => e.message.startsWith(`${file}: `) && /compressed/.test(e.message));
  });

  it('rejects v7.3 (HDF5) and non-MAT files clearly', () => {
    const header = Buffer.alloc(128, 0x20);
    header.write('MATLAB 7.3 MAT-file, Platform: GLNXA64', 0, 'latin1');
    assert.throws(() => parseMat(header, 'x.mat'), /x\.mat: MAT-file v7\.3 \(HDF5\) is not supported/);
    assert.throws(() => parseMat(Buffer.alloc(200), 'y.mat'), /y\.mat: not a MAT-file level 5/);
    assert.throws(() => parseMat(Buffer.alloc(10), 'z.mat'), /z\.mat: not a MAT-file/);
  });
});

// A minimal MAT writer for what scipy does not write: big-endian files, MATLAB's compaction of
// doubles into narrower storage types, and small data elements.
function matFile(little: boolean, ...vars: Uint8Array[]): Buffer {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, written by the spottune tests', 0, 'latin1');
  const view = new DataView(header.buffer, header.byteOffset);
  view.setUint16(124, 0x0100, little);
  header.write(little ? 'IM' : 'MI', 126, 'latin1');
  return Buffer.concat([header, ...vars]);
}

function element(little: boolean, type: number, data: Uint8Array): Uint8Array {
  const tag = new DataView(new ArrayBuffer(8));
  if (data.length <= 4 && data.length > 0 && type !== 14 && type !== 15) {
    // Small data element: size in the upper 16 bits, type in the lower, data in the next 4 bytes.
    tag.setUint32(0, (data.length << 16) | type, little);
    const out = new Uint8Array(8);
    out.set(new Uint8Array(tag.buffer, 0, 4));
    out.set(data, 4);
    return out;
  }
  tag.setUint32(0, type, little);
  tag.setUint32(4, data.length, little);
  const padded = type === 15 ? data.length : Math.ceil(data.length / 8) * 8;
  const out = new Uint8Array(8 + padded);
  out.set(new Uint8Array(tag.buffer));
  out.set(data, 8);
  return out;
}

function typed(little: boolean, bytesPer: number, values: number[], set: (v: DataView, o: number, x: number, le: boolean) => void): Uint8Array {
  const v = new DataView(new ArrayBuffer(values.length * bytesPer));
  values.forEach((x, i) => set(v, i * bytesPer, x, little));
  return new Uint8Array(v.buffer);
}

/** A double-class matrix whose values are stored as miUINT8 (as MATLAB compacts small integers). */
function compactedDouble(little: boolean, name: string, values: number[]): Uint8Array {
  const flags = element(little, 6, typed(little, 4, [6, 0], (v, o, x, le) => v.setUint32(o, x, le)));
  const dims = element(little, 5, typed(little, 4, [1, values.length], (v, o, x, le) => v.setInt32(o, x, le)));
  const nameEl = element(little, 1, Buffer.from(name, 'latin1'));
  const data = element(little, 2, Uint8Array.from(values));
  return element(little, 14, Buffer.concat([flags, dims, nameEl, data]));
}

describe('readMat on hand-built files', () => {
  for (const little of [true, false]) {
    it(`reads ${little ? 'little' : 'big'}-endian files, compacted storage and small elements`, () => {
      const bytes = matFile(little, compactedDouble(little, 'ids', [3, 1, 2]), compactedDouble(little, 'longer_name', [7, 8, 9, 10, 11]));
      const vars = parseMat(bytes, 'hand.mat');
      assert.deepEqual(vars.get('ids'), { kind: 'numeric', class: 'double', dims: [1, 3], real: Float64Array.from([3, 1, 2]), logical: false });
      assert.deepEqual(matNumbers(vars.get('longer_name'), 'longer_name'), [7, 8, 9, 10, 11]);
    });
  }

  it('reads a compressed variable and checks value counts against dimensions', () => {
    const good = matFile(true, element(true, 15, deflateSync(compactedDouble(true, 'x', [1, 2]))));
    assert.deepEqual(matNumbers(parseMat(good, 'c.mat').get('x'), 'x'), [1, 2]);
    // Dimensions say 1×3 but only two values are stored.
    const wrong = compactedDouble(true, 'x', [1, 2]);
    new DataView(wrong.buffer, wrong.byteOffset).setInt32(8 + 16 + 8 + 4, 3, true);
    assert.throws(() => parseMat(matFile(true, wrong), 'd.mat'), /d\.mat: variable 'x' \(real part\): expected 3 values/);
  });
});
