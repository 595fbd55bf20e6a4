// A PyTorch storage (a flat run of elements) and the tensors that view it. PyTorch saves each
// storage once and each tensor as (storage, offset, size, stride), so transposed tensors and
// several tensors sharing one storage come back by materializing those views.
import { type DType, type RawTensor, dtypeSize } from './raw.js';

/** A typed storage class such as torch.FloatStorage: pickles name it to give a storage's dtype. */
export class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType,
  ) {}
}

/**
 * A tensor's reference to its storage, the persistent id torch.save pickles:
 * ('storage', torch.FloatStorage, key, location, numel) in zip files, plus a view (always None
 * since PyTorch 0.4) in legacy ones. The location (cpu, cuda:0) does not matter for the bytes.
 */
export function storageRef(pid: unknown, file: string): { dtype: DType; key: string; numel: number } {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || (pid.length !== 5 && pid.length !== 6)) {
    throw new Error(`${file}: unexpected persistent id; expected ('storage', type, key, location, numel)`);
  }
  const [, type, key, , numel, view] = pid as unknown[];
  if (!(type instanceof StorageType) || typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) {
    throw new Error(`${file}: malformed storage reference; expected a storage type, a string key and an element count`);
  }
  if (view != null) throw new Error(`${file}: storage '${key}': storage views (PyTorch before 0.4) are not supported`);
  return { dtype: type.dtype, key, numel: numel as number };
}

export class Storage {
  /** numel * dtypeSize bytes, little-endian, at a byteOffset that is a multiple of 8. */
  readonly data: Uint8Array;

  constructor(
    readonly dtype: DType,
    data: Uint8Array,
    /** Names the storage in errors, e.g. "model.pth: storage 'archive/data/3'". */
    readonly name: string,
  ) {
    // Tensors view this memory: keep typed-array views of them aligned.
    this.data = data.byteOffset % 8 === 0 ? data : new Uint8Array(data);
  }
}

// A view larger than its storage (stride 0, as left by expand()) is materialized only up to this,
// so that a few bytes in a file cannot demand gigabytes.
const MAX_BROADCAST_BYTES = 64 * 1024 * 1024;

/** The tensor viewing `storage` at `offset` with `size` and `stride` (in elements), as contiguous bytes. */
export function viewTensor(storage: Storage, offset: number, size: readonly number[], stride: readonly number[]): RawTensor {
  const what = `${storage.name}: tensor view (offset ${offset}, size [${size}], stride [${stride}])`;
  const ints = [offset, ...size, ...stride];
  if (!ints.every((v) => Number.isSafeInteger(v) && v >= 0) || size.length !== stride.length) {
    throw new Error(`${what}: expected non-negative integers and as many strides as sizes`);
  }
  const es = dtypeSize(storage.dtype);
  const storageNumel = storage.data.length / es;
  let n = 1;
  let last = offset;
  for (let d = 0; d < size.length; d++) {
    n *= size[d];
    last += (size[d] - 1) * stride[d];
  }
  const shape = [...size];
  if (n === 0) return { dtype: storage.dtype, shape, data: new Uint8Array(0) };
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: too many elements`);
  if (last >= storageNumel) throw new Error(`${what}: reaches element ${last} of a storage holding ${storageNumel}`);
  if (isContiguous(size, stride)) {
    return { dtype: storage.dtype, shape, data: storage.data.subarray(offset * es, (offset + n) * es) };
  }
  if (n > storageNumel && n * es > MAX_BROADCAST_BYTES) {
    throw new Error(`${what}: a broadcast view of ${n * es} bytes is over the ${MAX_BROADCAST_BYTES}-byte limit`);
  }
  return { dtype: storage.dtype, shape, data: gather(storage.data, es, offset, size, stride, n) };
}

/** PyTorch's rule: strides must be row-major, except that dimensions of size 1 may have any stride. */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

// Copies element by element in 1-, 2- or 4-byte words (never through floats, which could alter
// NaN payloads), walking the outer dimensions like an odometer.
function gather(
  bytes: Uint8Array,
  es: number,
  offset: number,
  size: readonly number[],
  stride: readonly number[],
  n: number,
): Uint8Array {
  const wordSize = Math.min(es, 4);
  const k = es / wordSize;
  const src = words(bytes, wordSize);
  const out = new Uint8Array(n * es);
  const dst = words(out, wordSize);
  const last = size.length - 1;
  const inner = size[last];
  const innerStride = stride[last];
  const index = new Array<number>(last).fill(0);
  let o = 0;
  for (let row = 0; row < n / inner; row++) {
    let base = offset;
    for (let d = 0; d < last; d++) base += index[d] * stride[d];
    for (let j = 0; j < inner; j++) {
      const s = (base + j * innerStride) * k;
      for (let m = 0; m < k; m++) dst[o++] = src[s + m];
    }
    for (let d = last - 1; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

function words(bytes: Uint8Array, wordSize: number): Uint8Array | Uint16Array | Uint32Array {
  const count = bytes.byteLength / wordSize;
  if (wordSize === 4) return new Uint32Array(bytes.buffer, bytes.byteOffset, count);
  if (wordSize === 2) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  return bytes;
}
