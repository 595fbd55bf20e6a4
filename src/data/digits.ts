// The UCI handwritten digits that scikit-learn ships (digits.csv.gz): 1,797 rows of 64 pixel
// values (8×8, 0–16) and the digit. No split is given: use trainValSplit.
import { readFileSync } from 'node:fs';
import { inflateBounded } from '../io/inflate.js';
import { checkIndex, type Dataset, type Sample } from './dataset.js';
import { MNIST_CLASSES } from './idx.js';

/** Where Debian's python3-sklearn installs the file. */
export const UCI_DIGITS_FILE = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

const SIDE = 8;
const MAX_VALUE = 16;
/** The gzip'd text is about 0.5 MB inflated; a stream of more than this is not the digits file. */
const MAX_TEXT_BYTES = 64 * 2 ** 20;

export class UciDigits implements Dataset {
  readonly classes = MNIST_CLASSES;
  readonly labels: Int32Array;
  /** 8-bit grey pixels, 64 per image: round(value · 255 / 16), so ToTensor scales them to [0, 1]. */
  readonly pixels: Uint8Array;

  constructor(readonly file: string = UCI_DIGITS_FILE) {
    let text: string;
    try {
      const raw = readFileSync(file);
      text = (file.endsWith('.gz') ? inflateBounded('gzip', raw, MAX_TEXT_BYTES, file, 'that a digits file may have') : raw).toString('utf8');
    } catch (e) {
      throw new Error(`UCI digits: cannot read ${file}: ${(e as Error).message}`);
    }
    const rows = text.split(/\r?\n/).filter((line) => line.trim() !== '');
    const size = SIDE * SIDE;
    this.pixels = new Uint8Array(rows.length * size);
    this.labels = new Int32Array(rows.length);
    rows.forEach((row, r) => {
      const values = row.split(',').map(Number);
      if (values.length !== size + 1) throw new Error(`${file}:${r + 1}: expected ${size + 1} comma-separated values, got ${values.length}`);
      for (let k = 0; k < size; k++) {
        const v = values[k];
        if (!Number.isInteger(v) || v < 0 || v > MAX_VALUE) throw new Error(`${file}:${r + 1}: pixel ${k} = ${row.split(',')[k]}, expected an integer in 0..${MAX_VALUE}`);
        this.pixels[r * size + k] = Math.round((v * 255) / MAX_VALUE);
      }
      const y = values[size];
      if (!Number.isInteger(y) || y < 0 || y >= this.classes.length) throw new Error(`${file}:${r + 1}: label ${y} out of range, expected 0..9`);
      this.labels[r] = y;
    });
  }

  get length(): number {
    return this.labels.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.labels.length);
    const size = SIDE * SIDE;
    return { kind: 'image', image: { data: this.pixels.subarray(i * size, (i + 1) * size), width: SIDE, height: SIDE, channels: 1 } };
  }
}
