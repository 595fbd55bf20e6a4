// Mixed precision like torch.autocast: inside autocast(fn), operators on the generic path reach
// libtorch's AutocastCPU / AutocastCUDA dispatch keys, which run convolutions and matrix
// products in the lower precision and precision-sensitive ones (losses, softmax, norms) in
// float32, casting inputs as each operator's policy says. Weights stay float32 (their casts are
// cached for the scope); gradients come back float32 through the casts. Backward runs outside
// the scope, as in PyTorch.
import { native } from './native.js';
import { dtypeCode, dtypeFromCode, type DType } from './dtype.js';

export type AutocastDevice = 'cpu' | 'cuda';
export type LowPrecision = 'bfloat16' | 'float16';

export interface AutocastOptions {
  /** Which device's operators are cast ('cpu' or 'cuda'; a 'cuda:N' device means 'cuda'). */
  device: string;
  dtype: LowPrecision;
  /** false runs fn in full precision (a scope that can be switched off by an option). */
  enabled?: boolean;
}

export function autocastDevice(device: string): AutocastDevice {
  const type = device.split(':')[0];
  if (type !== 'cpu' && type !== 'cuda') throw new Error(`autocast: device must be cpu, cuda or cuda:N, got '${device}'`);
  return type;
}

/** Runs fn (synchronous) with autocast on the device, then restores the previous state. */
export function autocast<T>(fn: () => T, o: AutocastOptions): T {
  const device = autocastDevice(o.device);
  if (o.dtype !== 'bfloat16' && o.dtype !== 'float16') throw new Error(`autocast: dtype must be bfloat16 or float16, got '${String(o.dtype)}'`);
  const n = native();
  const [wasOn, wasDtype] = n.autocastState(device);
  n.setAutocast(device, o.enabled ?? true, dtypeCode[o.dtype], true);
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('autocast(fn): fn must be synchronous (it returned a Promise)');
    return result;
  } finally {
    n.setAutocast(device, wasOn, wasDtype, false);
  }
}

/** The lower precision autocast runs the device's operators in now, or undefined when off. */
export function autocastDtype(device: string): DType | undefined {
  const [on, code] = native().autocastState(autocastDevice(device));
  return on ? dtypeFromCode(code) : undefined;
}
