// In-memory formats: IDX (MNIST, Fashion-MNIST) and the UCI digits.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { UCI_DIGITS_FILE, UciDigits } from '../../src/data/digits.js';
import { FASHION_MNIST_ROOT, fashionMnist, IdxDataset, mnist, readIdx } from '../../src/data/idx.js';
import { tempDir, writeText } from './util.js';

function idx(dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, data]);
}

/** 3 images of 2×4 (pixel value = 10·image + position) and their labels. */
function writeIdxPair(root: string, prefix: string, gz: boolean, labels = [3, 0, 9]): void {
  const images = Uint8Array.from({ length: 3 * 8 }, (_, i) => 10 * Math.floor(i / 8) + (i % 8));
  const wrap = (b: Buffer): Buffer => (gz ? gzipSync(b) : b);
  const ext = gz ? '.gz' : '';
  writeFileSync(join(root, `${prefix}-images-idx3-ubyte${ext}`), wrap(idx([3, 2, 4], images)));
  writeFileSync(join(root, `${prefix}-labels-idx1-ubyte${ext}`), wrap(idx([3], Uint8Array.from(labels))));
}

describe('IDX', () => {
  for (const gz of [false, true]) {
    it(`reads an MNIST-layout folder (${gz ? 'gzipped' : 'plain'})`, () => {
      const root = tempDir();
      writeIdxPair(root, 't10k', gz);
      const ds = mnist({ root, split: 'test' });
      assert.equal(ds.length, 3);
      assert.deepEqual([...ds.labels], [3, 0, 9]);
      const s = ds.get(1);
      assert.ok(s.kind === 'image');
      assert.deepEqual({ ...s.image, data: [...s.image.data] }, { data: [10, 11, 12, 13, 14, 15, 16, 17], width: 4, height: 2, channels: 1 });
      assert.throws(() => mnist({ root, split: 'train' }), /no images file for 'train'/);
    });
  }

  it('rejects a header that disagrees with the file size', () => {
    const root = tempDir();
    const file = join(root, 'bad-images-idx3-ubyte');
    writeFileSync(file, idx([3, 2, 4], new Uint8Array(23)));
    assert.throws(() => readIdx(file), new RegExp(`${file}: IDX header says 3×2×4 = 24 bytes of data, but the file has 23`));
    writeFileSync(file, idx([3, 2, 4], new Uint8Array(25)));
    assert.throws(() => readIdx(file), /says 3×2×4 = 24 bytes of data, but the file has 25/);
    writeFileSync(file, Buffer.from([0, 0, 8, 3, 0, 0]));
    assert.throws(() => readIdx(file), /truncated IDX header/);
    writeFileSync(file, Buffer.from([1, 2, 8, 1]));
    assert.throws(() => readIdx(file), /not an IDX file/);
    writeFileSync(file, Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 0]));
    assert.throws(() => readIdx(file), /data type 0xd is not supported/);
    writeFileSync(`${file}.gz`, Buffer.from('not gzip'));
    assert.throws(() => readIdx(`${file}.gz`), /corrupt gzip data/);
  });

  it('rejects labels out of range and count mismatches', () => {
    const root = tempDir();
    writeIdxPair(root, 'train', false, [3, 10, 1]);
    const images = join(root, 'train-images-idx3-ubyte');
    const labels = join(root, 'train-labels-idx1-ubyte');
    assert.throws(() => new IdxDataset({ images, labels, classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] }), /train-labels-idx1-ubyte: label 1: label 10 out of range/);
    writeFileSync(labels, idx([2], Uint8Array.from([1, 2])));
    assert.throws(() => new IdxDataset({ images, labels, classes: ['a', 'b', 'c'] }), /2 labels, but .* has 3 images/);
  });

  it('reads Debian’s Fashion-MNIST', { skip: !existsSync(FASHION_MNIST_ROOT) && 'dataset-fashion-mnist is not installed' }, () => {
    const test = fashionMnist({ split: 'test' });
    assert.equal(test.length, 10000);
    assert.equal(test.classes[9], 'Ankle boot');
    assert.deepEqual([test.width, test.height], [28, 28]);
    const counts = new Array(10).fill(0);
    for (const y of test.labels) counts[y]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
  });
});

describe('UciDigits', () => {
  it('reads 8×8 rows with values 0–16, scaled to 0–255', () => {
    const file = join(tempDir(), 'digits.csv');
    writeText(file, [[...Array(63).fill(0), 16, 7].join(','), [...Array(64).fill(8), 3].join(',')].join('\n') + '\n');
    const ds = new UciDigits(file);
    assert.equal(ds.length, 2);
    assert.deepEqual([...ds.labels], [7, 3]);
    const s = ds.get(0);
    assert.ok(s.kind === 'image' && s.image.width === 8 && s.image.height === 8);
    assert.equal(s.image.data[63], 255);
    assert.equal((ds.get(1) as { image: { data: Uint8Array } }).image.data[0], 128);
  });

  it('rejects bad values and labels, naming the line', () => {
    const file = join(tempDir(), 'digits.csv');
    writeText(file, [...Array(63).fill(0), 17, 1].join(','));
    assert.throws(() => new UciDigits(file), /digits\.csv:1: pixel 63 = 17, expected an integer in 0\.\.16/);
    writeText(file, [...Array(64).fill(0), 10].join(','));
    assert.throws(() => new UciDigits(file), /digits\.csv:1: label 10 out of range/);
    assert.throws(() => new UciDigits(join(tempDir(), 'none.csv')), /cannot read/);
  });

  it('reads the file scikit-learn ships', { skip: !existsSync(UCI_DIGITS_FILE) && 'python3-sklearn is not installed' }, () => {
    const ds = new UciDigits();
    assert.equal(ds.length, 1797);
    assert.equal(ds.labels[0], 0);
  });
});
