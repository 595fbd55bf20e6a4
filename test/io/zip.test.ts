import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/io/file.js';
import { ZipReader, writeZip, type ZipInput } from '../../src/io/zip.js';
import { PYTHON, fixture, tempDir } from './helpers.js';

const dir = tempDir();

function write(path: string, entries: ZipInput[]): Buffer {
  writeFileAtomic(path, (append) => writeZip(append, entries));
  return readFileSync(path);
}

function readAll(path: string): Map<string, Buffer> {
  const zip = ZipReader.open(path);
  try {
    return new Map([...zip.entries.keys()].map((name) => [name, Buffer.from(zip.read(name))]));
  } finally {
    zip.close();
  }
}

const sample: ZipInput[] = [
  { name: 'archive/data.pkl', data: Buffer.from('pickle bytes') },
  { name: 'archive/data/0', data: new Uint8Array(1000).map((_, i) => i) },
  { name: 'archive/data/1', data: new Uint8Array(0) },
  { name: 'archive/version', data: Buffer.from('3\n') },
];

test('writes and reads back stored entries, in order, data 64-byte aligned', () => {
  const path = join(dir, 'sample.zip');
  write(path, sample);
  const zip = ZipReader.open(path);
  try {
    assert.deepEqual([...zip.entries.keys()], sample.map((e) => e.name));
    for (const { name, data } of sample) {
      assert.deepEqual(zip.read(name), Uint8Array.from(data));
      const entry = zip.entries.get(name)!;
      const local = readFileSync(path).subarray(entry.headerOffset);
      assert.equal((entry.headerOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28)) % 64, 0, name);
    }
    assert.throws(() => zip.read('archive/missing'), /sample\.zip: zip archive has no entry 'archive\/missing'/);
  } finally {
    zip.close();
  }
});

test("Python's zipfile accepts what we write", (t) => {
  if (!existsSync(PYTHON)) return t.skip(`${PYTHON} not found`);
  const path = join(dir, 'for_python.zip');
  write(path, sample);
  const script = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(*z.namelist())';
  const r = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), sample.map((e) => e.name).join(' '));
});

test('reads deflated entries and zip64 fields as written by Python', () => {
  const stored = readAll(fixture('dtypes.pth'));
  assert.deepEqual(readAll(fixture('dtypes_deflated.pth')), stored);
  assert.deepEqual(readAll(fixture('dtypes_zip64.pth')), stored);
});

test('not a zip, or too short', () => {
  const path = join(dir, 'junk.zip');
  writeFileSync(path, 'hello');
  assert.throws(() => ZipReader.open(path), /junk\.zip: 5 bytes is too small to be a zip archive/);
  writeFileSync(path, Buffer.alloc(100, 7));
  assert.throws(() => ZipReader.open(path), /junk\.zip: no zip end-of-central-directory record/);
});

test('every truncation fails with the file named', () => {
  const original = write(join(dir, 'whole.zip'), sample);
  const path = join(dir, 'truncated.zip');
  for (let n = 0; n < original.length; n++) {
    writeFileSync(path, original.subarray(0, n));
    assert.throws(() => readAll(path), (e: Error) => e.message.startsWith(path), `truncated to ${n}`);
  }
});

test('lying sizes and offsets in the central directory are caught before reading', () => {
  const original = write(join(dir, 'honest.zip'), sample);
  const central = original.indexOf('PK\x01\x02');
  const path = join(dir, 'lying.zip');
  const patched = (offset: number, value: number) => {
    const bytes = Buffer.from(original);
    bytes.writeUInt32LE(value, offset);
    writeFileSync(path, bytes);
  };
  // First entry's compressed and uncompressed sizes: 4 GB that is not there.
  patched(central + 20, 0xfffffff0);
  assert.throws(() => readAll(path), /lying\.zip: zip entry 'archive\/data\.pkl': stored entry has size 12 but 4294967280 stored bytes/);
  const bytes = Buffer.from(original);
  bytes.writeUInt32LE(0xfffffff0, central + 20);
  bytes.writeUInt32LE(0xfffffff0, central + 24);
  writeFileSync(path, bytes);
  assert.throws(() => readAll(path), /lying\.zip: zip entry 'archive\/data\.pkl': data at offset 0 overlaps the central directory/);
  // Local header offset pointing elsewhere.
  patched(central + 42, 64);
  assert.throws(() => readAll(path), /lying\.zip: zip entry 'archive\/data\.pkl': no local header signature at offset 64/);
  // Central directory offset beyond the file.
  const end = original.lastIndexOf('PK\x06\x06');
  const far = Buffer.from(original);
  far.writeBigUInt64LE(1n << 40n, end + 48);
  writeFileSync(path, far);
  assert.throws(() => readAll(path), /lying\.zip: central directory \(\d+ bytes at offset 1099511627776\) runs past/);
});

test('a deflate entry cannot claim more than deflate can produce', () => {
  const original = readFileSync(fixture('dtypes_deflated.pth'));
  const central = original.indexOf('PK\x01\x02');
  const bytes = Buffer.from(original);
  bytes.writeUInt32LE(0x7fffffff, central + 24); // uncompressed size of the first entry
  const path = join(dir, 'bomb.zip');
  writeFileSync(path, bytes);
  assert.throws(() => readAll(path), /bomb\.zip: zip entry 'dtypes\/data\.pkl': claims 2147483647 bytes from \d+ compressed bytes/);
  bytes.writeUInt32LE(original.readUInt32LE(central + 24) - 1, central + 24);
  writeFileSync(path, bytes);
  assert.throws(() => readAll(path), /bomb\.zip: zip entry 'dtypes\/data\.pkl': cannot inflate/);
});

test('zip64 offsets past 4 GiB (set SPOTTUNE_BIG_TESTS=1: writes 4.5 GB)', (t) => {
  if (process.env.SPOTTUNE_BIG_TESTS !== '1') return t.skip('set SPOTTUNE_BIG_TESTS=1 to run');
  const gib = new Uint8Array(2 ** 30).map((_, i) => i % 251);
  const entries = [0, 1, 2, 3, 4].map((i) => ({ name: `archive/data/${i}`, data: i === 4 ? Buffer.from('tail') : gib }));
  const path = join(dir, 'big.zip');
  writeFileAtomic(path, (append) => writeZip(append, entries));
  const zip = ZipReader.open(path);
  try {
    assert.ok(zip.entries.get('archive/data/4')!.headerOffset > 2 ** 32);
    assert.equal(Buffer.from(zip.read('archive/data/4')).toString(), 'tail');
    assert.equal(zip.read('archive/data/3')[12345], 12345 % 251);
  } finally {
    zip.close();
  }
  if (existsSync(PYTHON)) {
    const script = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read("archive/data/4").decode())';
    const r = spawnSync(PYTHON, ['-c', script, path], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'tail', r.stderr);
  }
});
