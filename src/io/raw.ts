// The interchange form of a tensor shared by every weights reader and writer: plain bytes,
// independent of the tensor layer, so files can be read and written without libtorch.

export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/**
 * A dense tensor: `data` holds numel(shape) * dtypeSize(dtype) bytes, contiguous, row-major,
 * little-endian. `data.byteOffset` is a multiple of the element size, so typed-array views work.
 * Like PyTorch views, two tensors read from one storage may share memory: copy before mutating.
 */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Parameter and buffer names to tensors; iteration order is the order in the file. */
export type StateDict = Map<string, RawTensor>;

const SIZES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export const DTYPES = Object.keys(SIZES) as DType[];

export function dtypeSize(dtype: DType): number {
  return SIZES[dtype];
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && Object.hasOwn(SIZES, x);
}

/** Number of elements; 1 for a scalar (shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isRawTensor(x: unknown): x is RawTensor {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Partial<RawTensor>;
  return isDType(t.dtype) && Array.isArray(t.shape) && t.data instanceof Uint8Array;
}
