// TensorBoard event files: written here, read back by an independent reader (Python's protobuf
// runtime from Debian, a bitwise CRC-32C), values compared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c, maskedCrc32c } from '../../src/io/crc32c.js';
import { EventWriter } from '../../src/io/tfevents.js';
import { PYTHON, ROOT, tempDir } from './helpers.js';

function decode(path: string): { wall_time: number; step: number; file_version?: string; scalars?: Record<string, number> }[] {
  const r = spawnSync(PYTHON, [join(ROOT, 'test/io/read_tfevents.py'), path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('crc32c: the standard check values', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and 0..31.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  // masked = rotr15(crc) + 0xa282ead8 (mod 2^32), by hand for the check value
  const c = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from('123456789')), (((c >>> 15) | ((c << 17) >>> 0)) + 0xa282ead8) % 2 ** 32);
});

test('an event file decodes, CRCs checked, to the scalars written', () => {
  const dir = join(tempDir(), 'tb');
  const w = new EventWriter(dir, 1700000000.25);
  w.scalars(1, { 'train/loss': 2.302585, 'test/acc': 41.5, 'lr/net': 0.05 }, 1700000001.5);
  w.scalars(2, { 'train/loss': 1.25, 'block_freq/test/0': 0.75 }, 1700000002.5);
  w.scalars(300, { 'images_per_sec': 12345.678 }, 1700000003.5);
  w.flush();
  w.close();
  assert.deepEqual(readdirSync(dir), [w.path.split('/').pop()]);
  assert.match(w.path, /events\.out\.tfevents\.1700000000\./);
  const events = decode(w.path);
  const f32 = (x: number) => Math.fround(x);
  assert.deepEqual(events, [
    { wall_time: 1700000000.25, step: 0, file_version: 'brain.Event:2' },
    { wall_time: 1700000001.5, step: 1, scalars: { 'train/loss': f32(2.302585), 'test/acc': 41.5, 'lr/net': f32(0.05) } },
    { wall_time: 1700000002.5, step: 2, scalars: { 'train/loss': 1.25, 'block_freq/test/0': 0.75 } },
    { wall_time: 1700000003.5, step: 300, scalars: { images_per_sec: f32(12345.678) } },
  ]);
  // A flipped bit anywhere in a record's data is caught by the reader's CRC check.
  const bytes = readFileSync(w.path);
  bytes[bytes.length - 10] ^= 1;
  const bad = join(dir, 'bad');
  writeFileSync(bad, bytes);
  const r = spawnSync(PYTHON, [join(ROOT, 'test/io/read_tfevents.py'), bad], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bad data CRC/);
});
