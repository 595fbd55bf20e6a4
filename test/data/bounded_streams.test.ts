// Compressed streams inflated no further than their header declares: gzip'd IDX files and MAT
// compressed elements whose stream holds far more than promised (decompression bombs) fail after
// at most the declared size, in bounded memory and time.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { readIdx } from '../../src/data/idx.js';
import { parseMat } from '../../src/data/mat.js';
import { tempDir } from './util.js';

const MB = 2 ** 20;
const ZEROS = Buffer.alloc(16 * MB);

/** Runs `f`, returning how long it took and how much the resident memory grew. */
function measure(f: () => void): { ms: number; grewMB: number } {
  const rss = process.memoryUsage().rss;
  const t = performance.now();
  f();
  return { ms: performance.now() - t, grewMB: (process.memoryUsage().rss - rss) / MB };
}

describe('gzip bombs', () => {
  it('an IDX header promising 10 images of 28×28, then a stream of 1 GiB of zeros: an error after 7,856 bytes, not 1 GiB inflated', () => {
    const header = Buffer.from([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]);
    // Gzip members concatenate: the header's member, then 64 members of 16 MB of zeros each (16 KB compressed).
    const zeros = gzipSync(ZEROS, { level: 1 });
    const file = join(tempDir(), 'train-images-idx3-ubyte.gz');
    writeFileSync(file, Buffer.concat([gzipSync(header), ...Array.from({ length: 64 }, () => zeros)]));
    let error: Error | undefined;
    const { ms, grewMB } = measure(() => {
      try {
        readIdx(file);
      } catch (e) {
        error = e as Error;
      }
    });
    assert.equal(error?.message, `${file}: the gzip stream inflates to more than the 7856 bytes that its IDX header declares: the file is corrupt (or a decompression bomb)`);
    assert.ok(grewMB < 64, `memory grew by ${grewMB.toFixed(0)} MB`);
    assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  });

  it('an honest gzip\'d IDX file still reads; a short one says how short', () => {
    const dir = tempDir();
    const header = Buffer.from([0, 0, 8, 1, 0, 0, 0, 5]);
    writeFileSync(join(dir, 'ok.gz'), gzipSync(Buffer.concat([header, Buffer.from([1, 2, 3, 4, 5])])));
    assert.deepEqual([...readIdx(join(dir, 'ok.gz')).data], [1, 2, 3, 4, 5]);
    writeFileSync(join(dir, 'short.gz'), gzipSync(Buffer.concat([header, Buffer.from([1, 2])])));
    assert.throws(() => readIdx(join(dir, 'short.gz')), { message: `${join(dir, 'short.gz')}: IDX header says 5 = 5 bytes of data, but the file has 2` });
  });
});

describe('zlib bombs', () => {
  it('a MAT compressed element whose tag declares 16 bytes but whose stream holds 32 MB: an error after 24 bytes', () => {
    const header = Buffer.alloc(128, 0x20);
    header.write('MATLAB 5.0 MAT-file, written by the spottune tests', 0, 'latin1');
    header.writeUInt16LE(0x0100, 124);
    header.write('IM', 126, 'latin1');
    const inner = Buffer.concat([Buffer.from([14, 0, 0, 0, 16, 0, 0, 0]), ZEROS, ZEROS]); // miMATRIX of 16 bytes, then 32 MB more
    const stream = deflateSync(inner, { level: 1 });
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(15, 0); // miCOMPRESSED
    tag.writeUInt32LE(stream.length, 4);
    let error: Error | undefined;
    const { grewMB } = measure(() => {
      try {
        parseMat(Buffer.concat([header, tag, stream]), 'bomb.mat');
      } catch (e) {
        error = e as Error;
      }
    });
    assert.equal(error?.message, 'bomb.mat: compressed data element at byte 128: the zlib stream inflates to more than the 24 bytes that its element tag declares: the file is corrupt (or a decompression bomb)');
    assert.ok(grewMB < 16, `memory grew by ${grewMB.toFixed(0)} MB`);
  });
});
