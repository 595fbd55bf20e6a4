import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPth } from '../../src/io/pth.js';
import type { RawTensor } from '../../src/io/raw.js';
import { loadSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { encode, expected, fixture, noTorch, runScript, tempDir } from './helpers.js';

const dir = tempDir();

// A safetensors file from a header object and data bytes.
function craft(path: string, header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): void {
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, ' ')]);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  writeFileSync(path, Buffer.concat([prefix, json, data]));
}

test('reads a hand-written file: every dtype, in data order, with metadata', () => {
  const { tensors, metadata } = loadSafetensors(fixture('tensors.safetensors'));
  assert.deepEqual({ metadata, tensors: encode(tensors) }, expected('tensors'));
  assert.deepEqual(encode(readSafetensors(fixture('tensors.safetensors'))), encode(tensors));
});

test('round trip safetensors -> safetensors is bit-exact, order and metadata kept', () => {
  const { tensors, metadata } = loadSafetensors(fixture('tensors.safetensors'));
  const out = join(dir, 'copy.safetensors');
  writeSafetensors(out, tensors, metadata);
  const back = loadSafetensors(out);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  assert.deepEqual(encode(back.tensors), encode(tensors));
  const headerLength = Number(readFileSync(out).readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('pth -> safetensors keeps every tensor', () => {
  const sd = readPth(fixture('views.pth'));
  writeSafetensors(join(dir, 'views.safetensors'), sd);
  assert.deepEqual(encode(readSafetensors(join(dir, 'views.safetensors'))), expected('views'));
});

test('our files read back in Python', (t) => {
  const reason = noTorch();
  if (reason) return t.skip(`PyTorch unavailable: ${reason}`);
  const { tensors, metadata } = loadSafetensors(fixture('tensors.safetensors'));
  writeSafetensors(join(dir, 'for_python.safetensors'), tensors, metadata);
  runScript(['check', join(dir, 'for_python.safetensors'), fixture('tensors.expected.json')]);
});

test('the writer refuses what the format cannot hold', () => {
  const out = join(dir, 'bad.safetensors');
  const short = { dtype: 'int32', shape: [3], data: new Uint8Array(8) } as RawTensor;
  assert.throws(() => writeSafetensors(out, new Map([['fc.bias', short]])), /bad\.safetensors: tensor 'fc\.bias': has 8 bytes but int32 \[3\] needs 12/);
  const ok = { dtype: 'uint8', shape: [1], data: new Uint8Array(1) } as RawTensor;
  assert.throws(() => writeSafetensors(out, new Map([['__metadata__', ok]])), /'__metadata__' is reserved/);
  assert.throws(() => writeSafetensors(out, new Map(), { n: 1 } as never), /metadata 'n' must be a string/);
});

test('lying headers are refused, naming the file and the tensor', () => {
  const path = join(dir, 'lying.safetensors');
  const f32 = (begin: number, end: number, shape = [2]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const cases: [unknown, Uint8Array, RegExp][] = [
    [{ w: f32(0, 8) }, new Uint8Array(4), /tensor 'w' ends at data byte 8, past the 4 bytes of data/],
    [{ w: f32(0, 12) }, new Uint8Array(12), /tensor 'w': data_offsets \[0,12\] span 12 bytes but F32 \[2\] needs 8/],
    [{ w: f32(0, 8), v: f32(4, 12) }, new Uint8Array(12), /tensor 'v' starts at data byte 4, but the tensors before it end at 8/],
    [{ w: f32(0, 8), v: f32(12, 20) }, new Uint8Array(20), /tensor 'v' starts at data byte 12, but the tensors before it end at 8/],
    [{ w: f32(0, 8) }, new Uint8Array(16), /the tensors cover 8 of the 16 data bytes/],
    [{ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1), /tensor 'w': dtype "F8_E4M3" is not one of F32/],
    [{ w: f32(8, 0) }, new Uint8Array(8), /tensor 'w': data_offsets must be \[begin, end\]/],
    [{ w: f32(0, 8, [-2] as number[]) }, new Uint8Array(8), /tensor 'w': shape must be a list of non-negative integers/],
    [{ w: 'nope' }, new Uint8Array(0), /tensor 'w': expected \{dtype, shape, data_offsets\}/],
    [{ __metadata__: { a: 1 } }, new Uint8Array(0), /__metadata__ must map strings to strings/],
    [[1, 2], new Uint8Array(0), /header must be a JSON object/],
  ];
  for (const [header, data, message] of cases) {
    craft(path, header, data);
    assert.throws(() => readSafetensors(path), (e: Error) => e.message.startsWith(path) && message.test(e.message), String(message));
  }
  craft(path, { w: f32(0, 8) }, new Uint8Array(8), 1n << 62n);
  assert.throws(() => readSafetensors(path), /lying\.safetensors: header length 4611686018427387904 exceeds the file/);
  writeFileSync(path, Buffer.from([16, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{"w": not json  ')]));
  assert.throws(() => readSafetensors(path), /lying\.safetensors: header is not valid UTF-8 JSON/);
  writeFileSync(path, Buffer.from([1, 2, 3]));
  assert.throws(() => readSafetensors(path), /lying\.safetensors: 3 bytes is too small for a safetensors file/);
});

test('every truncation fails and bit flips fail cleanly or read', () => {
  const original = readFileSync(fixture('tensors.safetensors'));
  const path = join(dir, 'corrupt.safetensors');
  for (let n = 0; n < original.length; n++) {
    writeFileSync(path, original.subarray(0, n));
    assert.throws(() => readSafetensors(path), (e: Error) => e.message.startsWith(path), `truncated to ${n}`);
  }
  for (let i = 0; i < original.length; i++) {
    const flipped = Uint8Array.from(original);
    flipped[i] ^= 1 << i % 8;
    writeFileSync(path, flipped);
    try {
      readSafetensors(path);
    } catch (e) {
      assert.ok(e instanceof Error && e.message.startsWith(path), `bit ${i % 8} of byte ${i}: ${String(e)}`);
    }
  }
});
