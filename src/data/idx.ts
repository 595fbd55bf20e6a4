// IDX files (MNIST, Fashion-MNIST), gzipped or not. Header: two zero bytes, a type byte
// (0x08 = unsigned byte, the only type these datasets use), the number of dimensions, then
// each dimension as a big-endian uint32; the data follows and must fill the rest of the file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkIndex, checkLabels, greyImageAt, type Dataset, type Sample } from './dataset.js';
import { inflateBounded, inflatePrefix } from '../io/inflate.js';

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

const UBYTE = 0x08;

export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

/** The largest IDX data read (Node's buffers stop at 4 GiB; the datasets here are < 50 MB). */
const MAX_IDX_BYTES = 2 ** 31;

interface IdxHeader {
  dims: number[];
  headerSize: number;
  /** Bytes of data the header declares. */
  dataSize: number;
}

/** Parses an IDX header from the first bytes of the (inflated) file. */
function idxHeader(bytes: Uint8Array, file: string): IdxHeader {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${file}: not an IDX file (bad magic number)`);
  if (bytes[2] !== UBYTE) throw new Error(`${file}: IDX data type 0x${bytes[2].toString(16)} is not supported, expected 0x08 (unsigned byte)`);
  const ndim = bytes[3];
  const headerSize = 4 + 4 * ndim;
  if (bytes.length < headerSize) throw new Error(`${file}: truncated IDX header (${ndim} dimensions need ${headerSize} bytes, file has ${bytes.length})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndim }, (_, k) => view.getUint32(4 + 4 * k, false));
  const dataSize = dims.reduce((a, b) => a * b, 1);
  if (dataSize > MAX_IDX_BYTES) throw new Error(`${file}: IDX header says ${dims.join('×')} = ${dataSize} bytes of data, more than the ${MAX_IDX_BYTES} this reader accepts`);
  return { dims, headerSize, dataSize };
}

/**
 * Reads an unsigned-byte IDX file, checking the header against the size. A `.gz` file is
 * inflated only up to the size its header declares: a longer stream is an error, not gigabytes.
 */
export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array = readFileSync(file);
  if (file.endsWith('.gz')) {
    const { headerSize, dataSize } = idxHeader(inflatePrefix('gzip', bytes, 4 + 4 * 255, file), file);
    bytes = inflateBounded('gzip', bytes, headerSize + dataSize, file, 'that its IDX header declares');
  }
  const { dims, headerSize, dataSize } = idxHeader(bytes, file);
  const actual = bytes.length - headerSize;
  if (actual !== dataSize) {
    throw new Error(`${file}: IDX header says ${dims.join('×')} = ${dataSize} bytes of data, but the file has ${actual}`);
  }
  return { dims, data: bytes.subarray(headerSize) };
}

export interface IdxOptions {
  images: string;
  labels: string;
  classes: string[];
}

/** Grey images from an IDX image file (N×H×W) with labels from an IDX label file (N). */
export class IdxDataset implements Dataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;

  constructor(options: IdxOptions) {
    const images = readIdx(options.images);
    const labels = readIdx(options.labels);
    if (images.dims.length !== 3) throw new Error(`${options.images}: expected 3 dimensions (N×H×W), got ${images.dims.length}`);
    if (labels.dims.length !== 1) throw new Error(`${options.labels}: expected 1 dimension (N), got ${labels.dims.length}`);
    if (labels.dims[0] !== images.dims[0]) {
      throw new Error(`${options.labels}: ${labels.dims[0]} labels, but ${options.images} has ${images.dims[0]} images`);
    }
    [, this.height, this.width] = images.dims;
    this.pixels = images.data;
    this.classes = options.classes;
    this.labels = checkLabels(labels.data, this.classes.length, (i) => `${options.labels}: label ${i}`);
  }

  get length(): number {
    return this.labels.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.labels.length);
    return greyImageAt(this.pixels, i, this.width, this.height);
  }
}

/**
 * Finds `<prefix>-<kind>-idx<n>-ubyte` in a folder: gzipped or not, and the
 * `<prefix>-<kind>.idx<n>-ubyte` spelling of some mirrors.
 */
function findIdx(root: string, prefix: string, kind: 'images' | 'labels'): string {
  const n = kind === 'images' ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${n}-ubyte`, `${prefix}-${kind}.idx${n}-ubyte`];
  const candidates = names.flatMap((name) => [join(root, `${name}.gz`), join(root, name)]);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`IDX: no ${kind} file for '${prefix}' in ${root} (looked for ${names.join(', ')}, with or without .gz)`);
  return found;
}

/** MNIST-layout folder: train-* (60,000) and t10k-* (10,000). */
export function idxFolder(options: { root: string; split: 'train' | 'test'; classes: string[] }): IdxDataset {
  const prefix = options.split === 'train' ? 'train' : 't10k';
  return new IdxDataset({
    images: findIdx(options.root, prefix, 'images'),
    labels: findIdx(options.root, prefix, 'labels'),
    classes: options.classes,
  });
}

export function fashionMnist(options: { split: 'train' | 'test'; root?: string }): IdxDataset {
  return idxFolder({ root: options.root ?? FASHION_MNIST_ROOT, split: options.split, classes: FASHION_MNIST_CLASSES });
}

export function mnist(options: { split: 'train' | 'test'; root: string }): IdxDataset {
  return idxFolder({ root: options.root, split: options.split, classes: MNIST_CLASSES });
}
