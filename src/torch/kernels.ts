// Typed entry points to the addon's own kernels (native/src/kernels/, see its README), with
// the device dispatch: the CPU kernels where they apply, libtorch's operators elsewhere (CUDA).
// Nothing above src/torch calls a kernel by name or touches a tensor handle.
import { op, lerp } from './ops.js';
import type { Tensor } from './tensor.js';

const mixKernel = op('spottune::mix');
const sgdKernel = op('spottune::sgd_update_');

/**
 * SpotTune's mixing of a block's two branches, (1 − m)·frozen + m·tuned, with m one weight per
 * image ([B, 1, 1, 1], from the decisions; gradients flow to it). On the CPU the addon's kernel
 * (lerp forward, a one-pass backward); elsewhere aten::lerp, one fused elementwise kernel.
 * Under mixed precision the branches are bfloat16/float16 and m is cast to their dtype, which
 * keeps 0/1 decisions exact.
 */
export function spotTuneMix(frozen: Tensor, tuned: Tensor, m: Tensor): Tensor {
  if (frozen.dtype !== tuned.dtype) throw new Error(`spotTuneMix: the branches have different dtypes (${frozen.dtype}, ${tuned.dtype})`);
  const w = m.dtype === frozen.dtype ? m : m.to(frozen.dtype);
  return frozen.device === 'cpu' ? mixKernel.t(frozen.handle, tuned.handle, w.handle) : lerp(frozen, tuned, w);
}

export interface SgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * One SGD step with momentum for one parameter, in place, with PyTorch 1.13's arithmetic:
 * d = grad + weightDecay·param; buf = momentum·buf + (1 − dampening)·d;
 * d = nesterov ? d + momentum·buf : buf; param −= lr·d. The kernel makes one pass over memory
 * for float32/float64 CPU tensors of one layout and runs PyTorch's four operations otherwise
 * (CUDA, other dtypes), with the same results.
 */
export function sgdUpdate_(param: Tensor, grad: Tensor, momentumBuffer: Tensor, s: SgdStep): void {
  sgdKernel.call([param.handle, grad.handle, momentumBuffer.handle, s.lr, s.momentum, s.dampening, s.weightDecay, s.nesterov]);
}
