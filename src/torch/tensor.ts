// The Tensor: a handle to a libtorch tensor, with PyTorch's methods.
import { native, type Handle } from './native.js';
import { dtypeCode, dtypeFromCode, dtypeOfArray, dtypeSize, isFloating, typedArrayFor, type DType, type TypedArray } from './dtype.js';
import { currentScope, type Scope } from './scope.js';
import * as F from './ops.js';

type Scalar = number | boolean;
type TensorOrScalar = Tensor | Scalar;
/** Sizes given like PyTorch: x.view(2, 3) or x.view([2, 3]). */
type Dims = number[] | [readonly number[]];
const dimsOf = (d: Dims): readonly number[] => (Array.isArray(d[0]) ? (d[0] as readonly number[]) : (d as number[]));

export class Tensor {
  /** The tidy() scope that will dispose this tensor, if any. */
  scope: Scope | undefined;
  private cachedShape: readonly number[] | undefined;
  private cachedDtype: DType | undefined;

  constructor(readonly handle: Handle) {
    const s = currentScope();
    if (s) {
      this.scope = s;
      s.push(this);
    }
  }

  get isTensor(): true {
    return true;
  }

  // ---------- metadata ----------
  get shape(): readonly number[] {
    return (this.cachedShape ??= Object.freeze(native().shape(this.handle)));
  }
  get dtype(): DType {
    return (this.cachedDtype ??= dtypeFromCode(native().dtype(this.handle)));
  }
  get device(): string {
    return native().device(this.handle);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** Size of one dimension (negative counts from the end). */
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size(${dim}): tensor has ${s.length} dimensions`);
    return s[d];
  }
  get strides(): number[] {
    return native().strides(this.handle);
  }
  get isContiguous(): boolean {
    return native().isContiguous(this.handle);
  }

  // ---------- lifetime ----------
  /** Drops this handle's reference now (memory is freed when no view or graph uses it). */
  dispose(): void {
    native().dispose(this.handle);
    this.scope = undefined;
  }
  get isDisposed(): boolean {
    return native().isDisposed(this.handle);
  }

  // ---------- data ----------
  /** A copy of the elements, row-major, in a typed array of the dtype. */
  data(): TypedArray {
    return typedArrayFor(this.dtype, native().toBuffer(this.handle));
  }
  /** The elements as JS numbers, row-major. */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, Number) : Array.from(d as ArrayLike<number>);
  }
  /** The value of a one-element tensor. */
  item(): number {
    return Number(native().item(this.handle));
  }

  // ---------- autograd ----------
  get requiresGrad(): boolean {
    return native().requiresGrad(this.handle);
  }
  requiresGrad_(on = true): this {
    native().setRequiresGrad(this.handle, on);
    return this;
  }
  /** The accumulated gradient (a new handle to it each time), or undefined. */
  get grad(): Tensor | undefined {
    const g = native().grad(this.handle);
    return g === undefined ? undefined : new Tensor(g);
  }
  set grad(g: Tensor | undefined) {
    native().setGrad(this.handle, g?.handle);
  }
  get isLeaf(): boolean {
    return native().isLeaf(this.handle);
  }
  /** Accumulates d(this)/d(leaf) into every leaf's .grad (this must be a scalar unless gradient is given). */
  backward(gradient?: Tensor, retainGraph?: boolean): void {
    native().backward(this.handle, gradient?.handle, retainGraph);
  }
  detach(): Tensor {
    return F.detach(this);
  }

  // ---------- conversion ----------
  to(target: DType | string): Tensor {
    return target in dtypeCode ? F.toDtype(this, target as DType) : F.toDevice(this, target);
  }
  float(): Tensor { return F.toDtype(this, 'float32'); }
  double(): Tensor { return F.toDtype(this, 'float64'); }
  long(): Tensor { return F.toDtype(this, 'int64'); }
  int(): Tensor { return F.toDtype(this, 'int32'); }
  bool(): Tensor { return F.toDtype(this, 'bool'); }
  cpu(): Tensor { return F.toDevice(this, 'cpu'); }
  cuda(index = 0): Tensor { return F.toDevice(this, `cuda:${index}`); }
  pinMemory(): Tensor { return F.pinMemory(this); }
  clone(): Tensor { return F.clone(this); }
  /**
   * Moves this tensor to a device in place: the same object afterwards holds the moved data,
   * detached, with its requiresGrad flag (what module.to(device) does to parameters and buffers).
   */
  moveTo_(device: string): this {
    native().moveTo(this.handle, device);
    this.cachedShape = undefined;
    return this;
  }
  contiguous(format?: number): Tensor { return F.contiguous(this, format); }

  // ---------- views ----------
  view(...shape: Dims): Tensor { return F.view(this, dimsOf(shape)); }
  reshape(...shape: Dims): Tensor { return F.reshape(this, dimsOf(shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return F.flatten(this, startDim, endDim); }
  permute(...dims: Dims): Tensor { return F.permute(this, dimsOf(dims)); }
  transpose(d0: number, d1: number): Tensor { return F.transpose(this, d0, d1); }
  /** Transpose of a 2-D tensor. */
  get T(): Tensor { return F.transpose(this, 0, 1); }
  squeeze(dim?: number): Tensor { return F.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return F.unsqueeze(this, dim); }
  expand(...shape: Dims): Tensor { return F.expand(this, dimsOf(shape)); }
  narrow(dim: number, start: number, length: number): Tensor { return F.narrow(this, dim, start, length); }
  select(dim: number, index: number): Tensor { return F.select(this, dim, index); }
  slice(dim: number, start?: number, end?: number, step = 1): Tensor { return F.slice(this, dim, start, end, step); }
  index(indices: (Tensor | null)[]): Tensor { return F.index(this, indices); }
  indexSelect(dim: number, idx: Tensor): Tensor { return F.indexSelect(this, dim, idx); }
  chunk(chunks: number, dim = 0): Tensor[] { return F.chunk(this, chunks, dim); }
  split(size: number | readonly number[], dim = 0): Tensor[] { return F.split(this, size, dim); }
  repeat(...repeats: Dims): Tensor { return F.repeat(this, dimsOf(repeats)); }
  flip(...dims: Dims): Tensor { return F.flip(this, dimsOf(dims)); }

  // ---------- elementwise ----------
  add(o: TensorOrScalar, alpha = 1): Tensor { return F.add(this, o, alpha); }
  sub(o: TensorOrScalar, alpha = 1): Tensor { return F.sub(this, o, alpha); }
  mul(o: TensorOrScalar): Tensor { return F.mul(this, o); }
  div(o: TensorOrScalar): Tensor { return F.div(this, o); }
  pow(o: TensorOrScalar): Tensor { return F.pow(this, o); }
  eq(o: TensorOrScalar): Tensor { return F.eq(this, o); }
  ne(o: TensorOrScalar): Tensor { return F.ne(this, o); }
  lt(o: TensorOrScalar): Tensor { return F.lt(this, o); }
  le(o: TensorOrScalar): Tensor { return F.le(this, o); }
  gt(o: TensorOrScalar): Tensor { return F.gt(this, o); }
  ge(o: TensorOrScalar): Tensor { return F.ge(this, o); }
  neg(): Tensor { return F.neg(this); }
  abs(): Tensor { return F.abs(this); }
  exp(): Tensor { return F.exp(this); }
  log(): Tensor { return F.log(this); }
  sqrt(): Tensor { return F.sqrt(this); }
  square(): Tensor { return F.square(this); }
  sigmoid(): Tensor { return F.sigmoid(this); }
  tanh(): Tensor { return F.tanh(this); }
  relu(): Tensor { return F.relu(this); }
  clamp(min?: number, max?: number): Tensor { return F.clamp(this, min, max); }
  maskedFill(mask: Tensor, value: number): Tensor { return F.maskedFill(this, mask, value); }
  matmul(o: Tensor): Tensor { return F.matmul(this, o); }

  // ---------- in place ----------
  add_(o: TensorOrScalar, alpha = 1): this { F.add_(this, o, alpha); return this; }
  sub_(o: TensorOrScalar, alpha = 1): this { F.sub_(this, o, alpha); return this; }
  mul_(o: TensorOrScalar): this { F.mul_(this, o); return this; }
  div_(o: TensorOrScalar): this { F.div_(this, o); return this; }
  zero_(): this { F.zero_(this); return this; }
  fill_(v: Scalar): this { F.fill_(this, v); return this; }
  copy_(src: Tensor): this { F.copy_(this, src); return this; }
  clamp_(min?: number, max?: number): this { F.clamp_(this, min, max); return this; }
  relu_(): this { F.relu_(this); return this; }
  maskedFill_(mask: Tensor, value: number): this { F.maskedFill_(this, mask, value); return this; }
  uniform_(from = 0, to = 1): this { F.uniform_(this, from, to); return this; }
  normal_(mean = 0, std = 1): this { F.normal_(this, mean, std); return this; }

  // ---------- reductions ----------
  sum(dim?: number | readonly number[], keepdim = false): Tensor { return F.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[], keepdim = false): Tensor { return F.mean(this, dim, keepdim); }
  max(): Tensor { return F.max(this); }
  min(): Tensor { return F.min(this); }
  argmax(dim?: number, keepdim = false): Tensor { return F.argmax(this, dim, keepdim); }
  softmax(dim: number): Tensor { return F.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return F.logSoftmax(this, dim); }

  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

type Nested = number | boolean | Nested[];

function flattenNested(x: Nested, shape: number[], out: number[], depth: number): void {
  if (!Array.isArray(x)) {
    if (depth !== shape.length) throw new Error('tensor(): ragged nested array');
    out.push(Number(x));
    return;
  }
  if (depth === shape.length) shape.push(x.length);
  else if (shape[depth] !== x.length) throw new Error(`tensor(): ragged nested array (dimension ${depth} has lengths ${shape[depth]} and ${x.length})`);
  for (const e of x) flattenNested(e, shape, out, depth + 1);
}

function typedArrayOf(values: ArrayLike<number>, dtype: DType): TypedArray {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int16': return Int16Array.from(values);
    case 'int8': return Int8Array.from(values);
    case 'uint8': return Uint8Array.from(values);
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
    default: throw new Error(`tensor(): cannot build ${dtype} from numbers; give raw Uint16Array bits`);
  }
}

export interface TensorInit {
  dtype?: DType;
  shape?: readonly number[];
  device?: string;
  requiresGrad?: boolean;
}

/**
 * A tensor from data: a typed array (shape defaults to 1-D), a nested array of numbers
 * (float32 by default, like torch.tensor) or a single number. The data is copied.
 */
export function tensor(data: TypedArray | Nested, init: TensorInit = {}): Tensor {
  let arr: TypedArray;
  let shape: readonly number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    dtype = init.dtype ?? dtypeOfArray(data);
    arr = data;
    if (dtypeSize[dtype] !== data.BYTES_PER_ELEMENT) arr = typedArrayOf(data instanceof BigInt64Array ? Array.from(data, Number) : (data as ArrayLike<number>), dtype);
    shape = init.shape ?? [arr.length];
  } else {
    const dims: number[] = [];
    const flat: number[] = [];
    flattenNested(data, dims, flat, 0);
    dtype = init.dtype ?? (typeof data === 'boolean' || (Array.isArray(data) && flat.length > 0 && typeof firstLeaf(data) === 'boolean') ? 'bool' : 'float32');
    arr = typedArrayOf(flat, dtype);
    shape = init.shape ?? dims;
  }
  F.dev(init);
  let t = new Tensor(native().fromBuffer(arr, shape as number[], dtypeCode[dtype]));
  if (init.device && init.device !== 'cpu') {
    const moved = F.toDevice(t, init.device);
    t.dispose();
    t = moved;
  }
  if (init.requiresGrad) {
    if (!isFloating(dtype)) throw new Error(`tensor(): only floating-point tensors can require gradients, not ${dtype}`);
    t.requiresGrad_(true);
  }
  return t;
}

function firstLeaf(x: Nested): Nested {
  return Array.isArray(x) ? firstLeaf(x[0]) : x;
}

/** A tensor from raw little-endian bytes (as files store them); the bytes are copied. */
export function fromBytes(bytes: Uint8Array, dtype: DType, shape: readonly number[]): Tensor {
  return new Tensor(native().fromBuffer(bytes, shape as number[], dtypeCode[dtype]));
}
