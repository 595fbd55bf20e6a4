// Tensor element types, with libtorch's c10::ScalarType codes.
export type DType = 'uint8' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'bool' | 'bfloat16';

export const dtypeCode: Record<DType, number> = {
  uint8: 0, int8: 1, int16: 2, int32: 3, int64: 4, float16: 5, float32: 6, float64: 7, bool: 11, bfloat16: 15,
};

const byCode = new Map<number, DType>(Object.entries(dtypeCode).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = byCode.get(code);
  if (d === undefined) throw new Error(`unsupported libtorch scalar type code ${code}`);
  return d;
}

export const dtypeSize: Record<DType, number> = {
  uint8: 1, int8: 1, int16: 2, int32: 4, int64: 8, float16: 2, float32: 4, float64: 8, bool: 1, bfloat16: 2,
};

export type TypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array | Uint16Array;

/** The typed array a dtype's data comes back as (float16/bfloat16 as raw Uint16 bits). */
export function typedArrayFor(dtype: DType, buf: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'uint8': case 'bool': return new Uint8Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'float16': case 'bfloat16': return new Uint16Array(buf);
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
  }
}

/** The dtype a typed array holds by default. */
export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new Error('Uint16Array data needs an explicit dtype (float16 or bfloat16)');
}

export const isFloating = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
