// The tensor operations: typed wrappers over ATen operators, each called through the
// addon's generic dispatcher path by schema name ('add.Tensor' is aten::add.Tensor).
// Arguments are passed by position in the schema's order; undefined means "default".
import { native, type Handle, type Native } from './native.js';
import { dtypeCode, type DType } from './dtype.js';
import { Tensor } from './tensor.js';

let N: Native | undefined;

/** One operator, resolved on first call: an ATen one, or a namespaced one ('spottune::conv3x3'). */
export class Op {
  private h = -1;
  constructor(readonly schema: string) {}
  call(args: unknown[]): unknown {
    const n = N ?? (N = native());
    if (this.h < 0) {
      const dot = this.schema.indexOf('.');
      const name = dot < 0 ? this.schema : this.schema.slice(0, dot);
      this.h = n.lookupOp(name.includes('::') ? name : 'aten::' + name, dot < 0 ? '' : this.schema.slice(dot + 1))[0];
    }
    return n.callOp(this.h, args);
  }
  /** Calls the operator and wraps its single tensor result. */
  t(...args: unknown[]): Tensor {
    return new Tensor(this.call(args) as Handle);
  }
  /** Calls the operator and wraps a list or tuple of tensor results. */
  ts(...args: unknown[]): Tensor[] {
    return (this.call(args) as Handle[]).map((h) => new Tensor(h));
  }
}

const ops = new Map<string, Op>();
/** The Op for a schema name, shared by every caller. */
export function op(schema: string): Op {
  let o = ops.get(schema);
  if (!o) ops.set(schema, (o = new Op(schema)));
  return o;
}

export type Shape = readonly number[];
export interface TensorOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}
type Scalar = number | boolean;
type TensorOrScalar = Tensor | Scalar;

const H = (t: Tensor): Handle => t.handle;

let devicesRequired = 0;
/**
 * Runs fn (sync, or async until its promise settles) with every factory (zeros, randn, arange,
 * tensor(), ...) required to name its device: one that does not throws. Device threading is
 * tested with it on the CPU: a tensor made without a device would land on the CPU in a GPU run
 * and meet the GPU's tensors in an operator.
 */
export function requireDevices<T>(fn: () => T): T {
  devicesRequired++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    devicesRequired--;
    throw e;
  }
  // An async fn (evaluation over a loader) keeps the requirement until it settles.
  if (result instanceof Promise) return result.finally(() => devicesRequired--) as T;
  devicesRequired--;
  return result;
}
/** The device a factory was given (undefined: the CPU), checked under requireDevices. */
export function dev(o: { device?: string } | undefined): string | undefined {
  if (devicesRequired > 0 && o?.device === undefined) throw new Error('a tensor was created without a device inside requireDevices() (in a GPU run it would be on the CPU)');
  return o?.device;
}
const dt = (d: DType | undefined): number | undefined => (d === undefined ? undefined : dtypeCode[d]);
function made(t: Tensor, o: TensorOptions | undefined): Tensor {
  if (o?.requiresGrad) t.requiresGrad_(true);
  return t;
}
/** Memory formats, as libtorch codes. */
export const memoryFormat = { contiguous: 0, preserve: 1, channelsLast: 2 } as const;
const reductionCode = { none: 0, mean: 1, sum: 2 } as const;
export type Reduction = keyof typeof reductionCode;

// ---------- creation ----------
export const empty = (shape: Shape, o?: TensorOptions) => made(op('empty.memory_format').t(shape, dt(o?.dtype), undefined, dev(o)), o);
export const zeros = (shape: Shape, o?: TensorOptions) => made(op('zeros').t(shape, dt(o?.dtype), undefined, dev(o)), o);
export const ones = (shape: Shape, o?: TensorOptions) => made(op('ones').t(shape, dt(o?.dtype), undefined, dev(o)), o);
export const full = (shape: Shape, value: Scalar, o?: TensorOptions) => made(op('full').t(shape, value, dt(o?.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32')), undefined, dev(o)), o);
/** Values start, start+step, ... below end (int64 when all are whole numbers, like PyTorch). */
export const arange = (start: number, end?: number, step = 1, o?: TensorOptions) =>
  end === undefined ? made(op('arange.start_step').t(0, start, step, dt(o?.dtype), undefined, dev(o)), o) : made(op('arange.start_step').t(start, end, step, dt(o?.dtype), undefined, dev(o)), o);
export const linspace = (start: number, end: number, steps: number, o?: TensorOptions) => made(op('linspace').t(start, end, steps, dt(o?.dtype), undefined, dev(o)), o);
export const eye = (n: number, o?: TensorOptions) => made(op('eye').t(n, dt(o?.dtype), undefined, dev(o)), o);
/** Uniform on [0, 1), from the global generator (see manualSeed). */
export const rand = (shape: Shape, o?: TensorOptions) => made(op('rand').t(shape, dt(o?.dtype), undefined, dev(o)), o);
export const randn = (shape: Shape, o?: TensorOptions) => made(op('randn').t(shape, dt(o?.dtype), undefined, dev(o)), o);
/** Integers in [low, high). */
export const randint = (low: number, high: number, shape: Shape, o?: TensorOptions) => made(op('randint.low').t(low, high, shape, dt(o?.dtype ?? 'int64'), undefined, dev(o)), o);
export const randperm = (n: number, o?: TensorOptions) => op('randperm').t(n, dt(o?.dtype ?? 'int64'), undefined, dev(o));
export const zerosLike = (x: Tensor, o?: TensorOptions) => made(op('zeros_like').t(H(x), dt(o?.dtype), undefined, o?.device), o);
export const onesLike = (x: Tensor, o?: TensorOptions) => made(op('ones_like').t(H(x), dt(o?.dtype), undefined, o?.device), o);
export const fullLike = (x: Tensor, value: Scalar, o?: TensorOptions) => made(op('full_like').t(H(x), value, dt(o?.dtype), undefined, o?.device), o);
export const randLike = (x: Tensor, o?: TensorOptions) => made(op('rand_like').t(H(x), dt(o?.dtype), undefined, o?.device), o);
export const randnLike = (x: Tensor, o?: TensorOptions) => made(op('randn_like').t(H(x), dt(o?.dtype), undefined, o?.device), o);
/** 0/1 samples with probability p of 1 (same dtype as x). */
export const bernoulli = (x: Tensor, p: number) => op('bernoulli.p').t(H(x), p);

// ---------- shape and views ----------
export const view = (x: Tensor, shape: Shape) => op('view').t(H(x), shape);
export const reshape = (x: Tensor, shape: Shape) => op('reshape').t(H(x), shape);
export const flatten = (x: Tensor, startDim = 0, endDim = -1) => op('flatten.using_ints').t(H(x), startDim, endDim);
export const permute = (x: Tensor, dims: Shape) => op('permute').t(H(x), dims);
export const transpose = (x: Tensor, dim0: number, dim1: number) => op('transpose.int').t(H(x), dim0, dim1);
export const squeeze = (x: Tensor, dim?: number) => (dim === undefined ? op('squeeze').t(H(x)) : op('squeeze.dim').t(H(x), dim));
export const unsqueeze = (x: Tensor, dim: number) => op('unsqueeze').t(H(x), dim);
export const expand = (x: Tensor, shape: Shape) => op('expand').t(H(x), shape);
export const contiguous = (x: Tensor, format: number = memoryFormat.contiguous) => op('contiguous').t(H(x), format);
export const narrow = (x: Tensor, dim: number, start: number, length: number) => op('narrow').t(H(x), dim, start, length);
export const select = (x: Tensor, dim: number, index: number) => op('select.int').t(H(x), dim, index);
/** x[start:end:step] along dim (negative indices count from the end, like Python). */
export const slice = (x: Tensor, dim: number, start?: number, end?: number, step = 1) => op('slice.Tensor').t(H(x), dim, start, end, step);
/** Advanced indexing x[i0, i1, ...] with index tensors (null keeps a dimension whole). */
export const index = (x: Tensor, indices: (Tensor | null)[]) => op('index.Tensor').t(H(x), indices.map((t) => (t ? H(t) : null)));
export const indexSelect = (x: Tensor, dim: number, idx: Tensor) => op('index_select').t(H(x), dim, H(idx));
export const indexPut_ = (x: Tensor, indices: (Tensor | null)[], values: Tensor, accumulate = false) => {
  op('index_put_').call([H(x), indices.map((t) => (t ? H(t) : null)), H(values), accumulate]);
  return x;
};
/** Indices of the non-zero elements, [K, ndim] int64. */
export const nonzero = (x: Tensor) => op('nonzero').t(H(x));
/** x[idx] = src along dim (rows of x picked by idx replaced by src's rows). */
export const indexCopy_ = (x: Tensor, dim: number, idx: Tensor, src: Tensor) => {
  op('index_copy_').call([H(x), dim, H(idx), H(src)]);
  return x;
};
export const maskedSelect = (x: Tensor, mask: Tensor) => op('masked_select').t(H(x), H(mask));
export const chunk = (x: Tensor, chunks: number, dim = 0) => op('chunk').ts(H(x), chunks, dim);
/** Splits into pieces of `size` (a number) or of the given sizes (an array). */
export const split = (x: Tensor, size: number | Shape, dim = 0) =>
  typeof size === 'number' ? op('split.Tensor').ts(H(x), size, dim) : op('split_with_sizes').ts(H(x), size, dim);
export const cat = (xs: Tensor[], dim = 0) => op('cat').t(xs.map(H), dim);
export const stack = (xs: Tensor[], dim = 0) => op('stack').t(xs.map(H), dim);
export const repeat = (x: Tensor, repeats: Shape) => op('repeat').t(H(x), repeats);
export const flip = (x: Tensor, dims: Shape) => op('flip').t(H(x), dims);
/** Constant padding; pad lists (before, after) pairs starting from the last dimension. */
export const pad = (x: Tensor, padding: Shape, value = 0) => op('constant_pad_nd').t(H(x), padding, value);

// ---------- elementwise ----------
function binary(tensorOp: string, scalarOp: string) {
  return (a: Tensor, b: TensorOrScalar): Tensor => (typeof b === 'object' ? op(tensorOp).t(H(a), H(b)) : op(scalarOp).t(H(a), b));
}
export const add = (a: Tensor, b: TensorOrScalar, alpha: number = 1) => (typeof b === 'object' ? op('add.Tensor').t(H(a), H(b), alpha) : op('add.Scalar').t(H(a), b, alpha));
export const sub = (a: Tensor, b: TensorOrScalar, alpha: number = 1) => (typeof b === 'object' ? op('sub.Tensor').t(H(a), H(b), alpha) : op('sub.Scalar').t(H(a), b, alpha));
export const mul = binary('mul.Tensor', 'mul.Scalar');
export const div = binary('div.Tensor', 'div.Scalar');
export const pow = binary('pow.Tensor_Tensor', 'pow.Tensor_Scalar');
export const eq = binary('eq.Tensor', 'eq.Scalar');
export const ne = binary('ne.Tensor', 'ne.Scalar');
export const lt = binary('lt.Tensor', 'lt.Scalar');
export const le = binary('le.Tensor', 'le.Scalar');
export const gt = binary('gt.Tensor', 'gt.Scalar');
export const ge = binary('ge.Tensor', 'ge.Scalar');
export const maximum = (a: Tensor, b: Tensor) => op('maximum').t(H(a), H(b));
export const minimum = (a: Tensor, b: Tensor) => op('minimum').t(H(a), H(b));
export const logicalAnd = (a: Tensor, b: Tensor) => op('logical_and').t(H(a), H(b));
export const logicalOr = (a: Tensor, b: Tensor) => op('logical_or').t(H(a), H(b));
export const logicalNot = (a: Tensor) => op('logical_not').t(H(a));
/** Elementwise cond ? a : b. */
export const where = (cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor => {
  if (typeof a === 'object' && typeof b === 'object') return op('where.self').t(H(cond), H(a), H(b));
  if (typeof a === 'object') return op('where.ScalarOther').t(H(cond), H(a), b);
  if (typeof b === 'object') return op('where.ScalarSelf').t(H(cond), a, H(b));
  return op('where.Scalar').t(H(cond), a, b);
};
export const maskedFill = (x: Tensor, mask: Tensor, value: number) => op('masked_fill.Scalar').t(H(x), H(mask), value);
function unary(name: string) {
  return (x: Tensor): Tensor => op(name).t(H(x));
}
export const neg = unary('neg');
export const abs = unary('abs');
export const sign = unary('sign');
export const exp = unary('exp');
export const log = unary('log');
export const log1p = unary('log1p');
export const sqrt = unary('sqrt');
export const rsqrt = unary('rsqrt');
export const square = unary('square');
export const reciprocal = unary('reciprocal');
export const sin = unary('sin');
export const cos = unary('cos');
export const tanh = unary('tanh');
export const sigmoid = unary('sigmoid');
export const relu = unary('relu');
export const floor = unary('floor');
export const ceil = unary('ceil');
export const round = unary('round');
export const isnan = unary('isnan');
export const isfinite = unary('isfinite');
export const clamp = (x: Tensor, min?: number, max?: number) => op('clamp').t(H(x), min, max);
/** a + w·(b − a), exact at w = 0 (a) and w = 1 (b); differentiable in a, b and w. */
export const lerp = (a: Tensor, b: Tensor, w: Tensor | number) => (typeof w === 'number' ? op('lerp.Scalar').t(H(a), H(b), w) : op('lerp.Tensor').t(H(a), H(b), H(w)));

// ---------- in place (return their first argument) ----------
function inplace(tensorOp: string, scalarOp: string) {
  return (a: Tensor, b: TensorOrScalar): Tensor => {
    if (typeof b === 'object') op(tensorOp).call([H(a), H(b)]);
    else op(scalarOp).call([H(a), b]);
    return a;
  };
}
export const add_ = (a: Tensor, b: TensorOrScalar, alpha: number = 1) => {
  if (typeof b === 'object') op('add_.Tensor').call([H(a), H(b), alpha]);
  else op('add_.Scalar').call([H(a), b, alpha]);
  return a;
};
export const sub_ = (a: Tensor, b: TensorOrScalar, alpha: number = 1) => {
  if (typeof b === 'object') op('sub_.Tensor').call([H(a), H(b), alpha]);
  else op('sub_.Scalar').call([H(a), b, alpha]);
  return a;
};
export const mul_ = inplace('mul_.Tensor', 'mul_.Scalar');
export const div_ = inplace('div_.Tensor', 'div_.Scalar');
function inplaceCall(name: string) {
  return (x: Tensor, ...args: unknown[]): Tensor => {
    op(name).call([H(x), ...args]);
    return x;
  };
}
export const zero_ = (x: Tensor) => inplaceCall('zero_')(x);
export const fill_ = (x: Tensor, value: Scalar) => inplaceCall('fill_.Scalar')(x, value);
export const copy_ = (x: Tensor, src: Tensor) => inplaceCall('copy_')(x, H(src));
export const clamp_ = (x: Tensor, min?: number, max?: number) => inplaceCall('clamp_')(x, min, max);
export const relu_ = (x: Tensor) => inplaceCall('relu_')(x);
export const sqrt_ = (x: Tensor) => inplaceCall('sqrt_')(x);
/** x += value * t1 * t2 */
export const addcmul_ = (x: Tensor, t1: Tensor, t2: Tensor, value = 1) => inplaceCall('addcmul_')(x, H(t1), H(t2), value);
/** x += value * t1 / t2 */
export const addcdiv_ = (x: Tensor, t1: Tensor, t2: Tensor, value = 1) => inplaceCall('addcdiv_')(x, H(t1), H(t2), value);
/** x += weight * (end - x) */
export const lerp_ = (x: Tensor, end: Tensor, weight: number) => inplaceCall('lerp_.Scalar')(x, H(end), weight);
export const maskedFill_ = (x: Tensor, mask: Tensor, value: number) => inplaceCall('masked_fill_.Scalar')(x, H(mask), value);
export const uniform_ = (x: Tensor, from = 0, to = 1) => inplaceCall('uniform_')(x, from, to);
export const normal_ = (x: Tensor, mean = 0, std = 1) => inplaceCall('normal_')(x, mean, std);

// ---------- reductions ----------
type Dims = number | Shape;
export const sum = (x: Tensor, dim?: Dims, keepdim = false) => (dim === undefined ? op('sum').t(H(x)) : op('sum.dim_IntList').t(H(x), dim, keepdim));
export const mean = (x: Tensor, dim?: Dims, keepdim = false) => (dim === undefined ? op('mean').t(H(x)) : op('mean.dim').t(H(x), dim, keepdim));
export const prod = (x: Tensor) => op('prod').t(H(x));
/** Variance (unbiased by default, like torch.var). */
export const variance = (x: Tensor, dim?: Dims, unbiased = true, keepdim = false) => op('var.dim').t(H(x), dim, unbiased, keepdim);
export const std = (x: Tensor, dim?: Dims, unbiased = true, keepdim = false) => op('std.dim').t(H(x), dim, unbiased, keepdim);
export const norm = (x: Tensor, p = 2) => op('norm.Scalar').t(H(x), p);
export const logsumexp = (x: Tensor, dim: Dims, keepdim = false) => op('logsumexp').t(H(x), dim, keepdim);
export const amax = (x: Tensor, dim: Dims, keepdim = false) => op('amax').t(H(x), dim, keepdim);
export const amin = (x: Tensor, dim: Dims, keepdim = false) => op('amin').t(H(x), dim, keepdim);
/** The largest element, or with dim: [values, indices] along it. */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): [Tensor, Tensor];
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
  return dim === undefined ? op('max').t(H(x)) : (op('max.dim').ts(H(x), dim, keepdim) as [Tensor, Tensor]);
}
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): [Tensor, Tensor];
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
  return dim === undefined ? op('min').t(H(x)) : (op('min.dim').ts(H(x), dim, keepdim) as [Tensor, Tensor]);
}
export const argmax = (x: Tensor, dim?: number, keepdim = false) => op('argmax').t(H(x), dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false) => op('argmin').t(H(x), dim, keepdim);
export const all = (x: Tensor) => op('all').t(H(x));
export const any = (x: Tensor) => op('any').t(H(x));
/** [values, indices] of the k largest (or smallest) along dim. */
export const topk = (x: Tensor, k: number, dim = -1, largest = true, sorted = true) => op('topk').ts(H(x), k, dim, largest, sorted) as [Tensor, Tensor];
export const sort = (x: Tensor, dim = -1, descending = false) => op('sort').ts(H(x), dim, descending) as [Tensor, Tensor];
export const cumsum = (x: Tensor, dim: number) => op('cumsum').t(H(x), dim);

// ---------- linear algebra ----------
export const matmul = (a: Tensor, b: Tensor) => op('matmul').t(H(a), H(b));
export const mm = (a: Tensor, b: Tensor) => op('mm').t(H(a), H(b));
export const bmm = (a: Tensor, b: Tensor) => op('bmm').t(H(a), H(b));
/** x · weightᵀ + bias, like torch.nn.functional.linear. */
export const linear = (x: Tensor, weight: Tensor, bias?: Tensor) => op('linear').t(H(x), H(weight), bias && H(bias));

// ---------- neural-network functions ----------
export type Pair = number | [number, number];
const one = (p: Pair, v: number) => (typeof p === 'number' ? p === v : p[0] === v && p[1] === v);
let winograd = process.env.SPOTTUNE_WINOGRAD !== '0';
/**
 * Whether 3×3, stride-1, padding-1 convolutions without bias use the addon's Winograd kernel
 * (native/src/kernels/winograd.cc: a quarter of the multiplications, results equal to direct
 * convolution within float32 rounding, ~1e-6 relative). On by default; SPOTTUNE_WINOGRAD=0
 * turns it off at start-up. Under CPU autocast (bfloat16) the kernel takes bfloat16 activations
 * and multiplies in bfloat16 on CPUs with AVX-512 BF16 (docs/performance.md). Cases the kernel
 * does not cover fall back to aten::conv2d (under autocast: oneDNN's bfloat16 convolution).
 */
export function useWinograd(on: boolean): void {
  winograd = on;
}
export const conv2d = (x: Tensor, weight: Tensor, bias?: Tensor, stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1, groups = 1) =>
  winograd && !bias && groups === 1 && one(stride, 1) && one(padding, 1) && one(dilation, 1) && weight.shape[2] === 3 && weight.shape[3] === 3
    ? op('spottune::conv3x3').t(H(x), H(weight))
    : op('conv2d').t(H(x), H(weight), bias && H(bias), stride, padding, dilation, groups);
/**
 * Batch normalisation. In training mode it normalises with the batch statistics and
 * updates runningMean/runningVar in place: r = (1 - momentum)·r + momentum·batch.
 */
export const batchNorm = (x: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, weight: Tensor | undefined, bias: Tensor | undefined, training: boolean, momentum = 0.1, eps = 1e-5) =>
  op('batch_norm').t(H(x), weight && H(weight), bias && H(bias), runningMean && H(runningMean), runningVar && H(runningVar), training, momentum, eps, true);
export const maxPool2d = (x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0, dilation: Pair = 1, ceilMode = false) =>
  op('max_pool2d').t(H(x), kernel, stride ?? kernel, padding, dilation, ceilMode);
export const avgPool2d = (x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0, ceilMode = false, countIncludePad = true) =>
  op('avg_pool2d').t(H(x), kernel, stride ?? kernel, padding, ceilMode, countIncludePad);
export const adaptiveAvgPool2d = (x: Tensor, size: Pair) => op('adaptive_avg_pool2d').t(H(x), size);
export const adaptiveMaxPool2d = (x: Tensor, size: Pair) => op('adaptive_max_pool2d').ts(H(x), size)[0];
export const softmax = (x: Tensor, dim: number) => op('softmax.int').t(H(x), dim);
export const logSoftmax = (x: Tensor, dim: number) => op('log_softmax.int').t(H(x), dim);
export const dropout = (x: Tensor, p: number, training: boolean) => op('dropout').t(H(x), p, training);
export interface CrossEntropyOptions {
  weight?: Tensor;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
}
/** Cross-entropy of logits [N, C] against class indices [N] (int64) or class probabilities [N, C]. */
export const crossEntropy = (logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}) =>
  op('cross_entropy_loss').t(H(logits), H(target), o.weight && H(o.weight), reductionCode[o.reduction ?? 'mean'], o.ignoreIndex ?? -100, o.labelSmoothing ?? 0);
export const nllLoss = (logProbs: Tensor, target: Tensor, reduction: Reduction = 'mean') => op('nll_loss').t(H(logProbs), H(target), undefined, reductionCode[reduction]);
export const mseLoss = (x: Tensor, target: Tensor, reduction: Reduction = 'mean') => op('mse_loss').t(H(x), H(target), reductionCode[reduction]);
export const oneHot = (labels: Tensor, numClasses = -1) => op('one_hot').t(H(labels), numClasses);
export const gather = (x: Tensor, dim: number, idx: Tensor) => op('gather').t(H(x), dim, H(idx));
export interface InterpolateOptions {
  size?: [number, number];
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}
/** Resizes a batch [N, C, H, W] like torch.nn.functional.interpolate. */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  if ((o.size === undefined) === (o.scaleFactor === undefined)) throw new Error('interpolate: give exactly one of size and scaleFactor');
  const scales = o.scaleFactor === undefined ? undefined : typeof o.scaleFactor === 'number' ? [o.scaleFactor, o.scaleFactor] : o.scaleFactor;
  if ((o.mode ?? 'nearest') === 'nearest') return op('upsample_nearest2d.vec').t(H(x), o.size, scales);
  return op('upsample_bilinear2d.vec').t(H(x), o.size, o.alignCorners ?? false, scales);
}

// ---------- conversion ----------
export const toDtype = (x: Tensor, dtype: DType) => op('to.dtype').t(H(x), dtypeCode[dtype]);
/** x on a device; nonBlocking: a copy from pinned host memory returns before it completes (CUDA). */
export const toDevice = (x: Tensor, device: string, nonBlocking = false) => op('to.dtype_layout').t(H(x), undefined, undefined, device, undefined, nonBlocking);
/** A copy of a CPU tensor in page-locked memory (needs a CUDA libtorch), for non-blocking copies to the GPU. */
export const pinMemory = (x: Tensor) => op('pin_memory').t(H(x));
export const clone = (x: Tensor) => op('clone').t(H(x));
export const detach = (x: Tensor) => op('detach').t(H(x));
/** Points t at src's data (like PyTorch's `t.data = src`): t keeps its identity, autograd leaf status and gradient flag. */
export const setData_ = (t: Tensor, src: Tensor) => inplaceCall('set_data')(t, H(src));
