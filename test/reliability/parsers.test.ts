// Hand-made worst cases for the parsers, beside the fuzzer's random ones: inputs built to
// run code, to exhaust memory or time, or to overflow a recursive walker. Each is refused at
// once with an error naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readMat } from '../../src/data/mat.js';
import { readIdx } from '../../src/data/idx.js';
import { Decathlon } from '../../src/data/decathlon.js';
import { ImageList } from '../../src/data/image_list.js';
import { PyObject } from '../../src/io/pickle.js';
import { loadPth } from '../../src/io/pth.js';
import { writeZip } from '../../src/io/zip.js';
import { readConfigFile } from '../../src/train/config.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-parsers-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Uint8Array | string): string => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return path;
};

/** Asserts fn throws within `ms`, with a message naming `path` and matching `reason`. */
function refusesQuickly(fn: () => unknown, path: string, reason: RegExp, ms = 2000): void {
  const t0 = performance.now();
  assert.throws(fn, (e: Error) => {
    assert.ok(e.message.includes(path), `the error names ${path}: ${e.message}`);
    assert.match(e.message, reason);
    return true;
  });
  assert.ok(performance.now() - t0 < ms, `refused in ${(performance.now() - t0).toFixed(0)} ms`);
}

// A level-5 .mat file holding one miMATRIX element built from its subelements.
function matFile(subelements: Uint8Array[]): Uint8Array {
  const header = Buffer.alloc(128, ' ');
  header.write('MATLAB 5.0 MAT-file, hand-made', 0, 'latin1');
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  const body = Buffer.concat(subelements);
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(14, 0);
  tag.writeUInt32LE(body.length, 4);
  return Buffer.concat([header, tag, body]);
}
function element(type: number, data: Uint8Array): Uint8Array {
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(type, 0);
  tag.writeUInt32LE(data.length, 4);
  return Buffer.concat([tag, data, Buffer.alloc((8 - (data.length % 8)) % 8)]);
}
const int32s = (...v: number[]) => new Uint8Array(Int32Array.from(v).buffer);
const uint32s = (...v: number[]) => new Uint8Array(Uint32Array.from(v).buffer);

test('.mat: a struct array of 2^60 elements without fields is refused, not built', () => {
  const path = file('bomb.mat', matFile([
    element(6, uint32s(2, 0)), // array flags: mxSTRUCT
    element(5, int32s(1 << 30, 1 << 30)), // dimensions
    element(1, Buffer.from('x')), // name
    element(5, int32s(32)), // field name length
    element(1, new Uint8Array(0)), // no field names
  ]));
  refusesQuickly(() => readMat(path), path, /struct array of \d+ elements without fields/);
});

test('IDX: a header claiming 2^64 bytes is refused from the header alone', () => {
  const header = Buffer.from([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const path = file('bomb-idx3-ubyte.gz', gzipSync(header));
  refusesQuickly(() => readIdx(path), path, /IDX header says 4294967295×4294967295 = \d+ bytes of data, more than the 2147483648 this reader accepts/);
});

// A zip .pth whose data.pkl is the given pickle.
function pthWith(name: string, pickle: Uint8Array): string {
  const parts: Uint8Array[] = [];
  writeZip((b) => parts.push(Uint8Array.from(b)), [
    { name: 'archive/data.pkl', data: pickle },
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
  return file(name, Buffer.concat(parts));
}

test('.pth: os.system in a pickle is refused by name, and with inertObjects becomes an inert record; nothing runs', () => {
  const canary = join(dir, 'CODE-WAS-RUN');
  const command = Buffer.from(`touch ${canary}`);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(command.length);
  // PROTO 2, GLOBAL os.system, MARK, BINUNICODE command, TUPLE, REDUCE, STOP
  const pickle = Buffer.concat([Buffer.from('\x80\x02cos\nsystem\n(X', 'latin1'), len, command, Buffer.from('tR.', 'latin1')]);
  const path = pthWith('evil.pth', pickle);
  refusesQuickly(() => loadPth(path), path, /refusing global 'os\.system'/);
  const inert = loadPth(path, { inertObjects: true });
  assert.ok(inert instanceof PyObject);
  assert.equal(inert.className, 'os.system');
  assert.deepEqual(inert.args, [`touch ${canary}`]);
  assert.equal(existsSync(canary), false);
});

test('.pth: a pickle nested 1,000,000 deep is read without overflowing the stack', () => {
  // PROTO 2, 10^6 × (EMPTY_LIST, then later APPEND): an iterative machine has no depth limit.
  const depth = 1_000_000;
  const pickle = Buffer.concat([Buffer.from('\x80\x02', 'latin1'), Buffer.alloc(depth, ']'), Buffer.alloc(depth - 1, 'a'), Buffer.from('.')]);
  const path = pthWith('deep.pth', pickle);
  let v = loadPth(path) as unknown[];
  let d = 1;
  while (v.length > 0) {
    v = v[0] as unknown[];
    d++;
  }
  assert.equal(d, depth);
});

test('Decathlon JSON nested 100,000 deep where an id belongs: refused naming the file and field', () => {
  const nested = '['.repeat(100_000) + ']'.repeat(100_000);
  const root = join(dir, 'decathlon');
  const path = file('decathlon/annotations/dtd_train.json', `{"images": [{"id": ${nested}, "file_name": "a.jpg"}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}`);
  refusesQuickly(() => new Decathlon({ root, name: 'dtd', split: 'train' }), path, /images\[0\]\.id must be an integer, got an array/);
});

test('image list: a label of 10^11 would make 10^11 classes: refused naming the line', () => {
  const path = file('list.txt', 'a.jpg 0\nb.jpg 99999999999\n');
  refusesQuickly(() => new ImageList({ root: dir, list: path }), `${path}:2`, /label 99999999999 would make/);
});

test('config.json: broken JSON, a missing method option, a foreign one and a wrong type are each refused naming the file and field', () => {
  const valid = { method: 'finetune', arch: 'resnet26', data: 'digits', epochs: 1, batchSize: 8, lr: 0.1, lrAgent: 0.01, momentum: 0.9, weightDecay: 0, weightDecayAgent: 0, schedule: 'constant', milestones: [], gamma: 0.1, warmupEpochs: 0, labelSmoothing: 0, seed: 0, evalEvery: 1, skipNonFinite: false };
  const l2sp = { method: 'l2sp', l2spAlpha: 0.01, l2spBeta: 0.01, l2spScope: 'all' };
  const ok = file('run/config.json', JSON.stringify(valid));
  assert.equal(readConfigFile(ok).method, 'finetune');
  assert.equal(readConfigFile(file('run/config.json', JSON.stringify({ ...valid, ...l2sp }))).l2spAlpha, 0.01);
  // A setting the file lacks (declared after the run was made) takes its default.
  assert.equal(readConfigFile(file('run/config.json', JSON.stringify({ ...valid, method: 'l2sp' }))).l2spBeta, 0.01);
  const cases: [unknown, RegExp][] = [
    ['{"method": "finetune",', /not valid JSON|Unexpected end|Expected/],
    [{ ...valid, ...l2sp, l2spBeta: -1 }, /config field "l2spBeta": expected a non-negative number, got -1/],
    [{ ...valid, tau: 5 }, /config field "tau": expected a field of a finetune run: one of .* \(unknown field\)/],
    [{ ...valid, data: 7 }, /config field "data": expected a non-empty string/],
    [{ ...valid, ...l2sp, l2spScope: null }, /config field "l2spScope": expected all or weights, got null/],
    [null, /config field "\(top level\)": expected an object/],
  ];
  for (const [content, reason] of cases) {
    const path = file('run/config.json', typeof content === 'string' ? content : JSON.stringify(content));
    refusesQuickly(() => readConfigFile(path), path, reason);
  }
});
