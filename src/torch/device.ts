// Devices: 'cpu', 'cuda' (GPU 0) or 'cuda:N'. checkDevice says, before any work, what is missing
// when a CUDA device cannot be used: a libtorch built with CUDA, or a visible GPU.
import { readFileSync } from 'node:fs';
import { native } from './native.js';
import { toDevice } from './ops.js';
import type { Tensor } from './tensor.js';

const DEVICE = /^(cpu|cuda(:\d+)?)$/;

/** Whether the loaded libtorch has its CUDA part (libtorch_cuda.so is mapped into this process). */
export function cudaBuilt(): boolean {
  native();
  try {
    return readFileSync('/proc/self/maps', 'utf8').includes('libtorch_cuda.so');
  } catch {
    return native().cudaDeviceCount() > 0;
  }
}

/**
 * A device string checked against this machine and build: 'cuda' becomes 'cuda:0'. Throws an
 * error naming what is missing and how to get it (`what` names the option, e.g. '--device').
 */
export function checkDevice(device: string, what = 'device'): string {
  if (!DEVICE.test(device)) throw new Error(`${what}: expected cpu, cuda or cuda:N, got '${device}'`);
  if (!device.startsWith('cuda')) return device;
  const index = device === 'cuda' ? 0 : Number(device.slice(5));
  if (!cudaBuilt()) {
    throw new Error(`${what} ${device}: spottune's addon is built against a libtorch without CUDA (libtorch ${native().version()}, CPU only). ` +
      'On a machine with an NVIDIA GPU, install a CUDA PyTorch (pip install torch) and rebuild the addon against it: LIBTORCH=auto npm run build:native (see docs/gpu.md)');
  }
  const n = native().cudaDeviceCount();
  if (n === 0) throw new Error(`${what} ${device}: libtorch has CUDA but sees no GPU (check nvidia-smi, the NVIDIA driver and CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES ?? '(unset)'})`);
  if (index >= n) throw new Error(`${what} ${device}: only ${n} GPU(s) visible (cuda:0${n > 1 ? `..cuda:${n - 1}` : ''})`);
  return `cuda:${index}`;
}

/**
 * A host tensor copied to the device: on CUDA from pinned (page-locked) memory without waiting,
 * so the copy overlaps the work already queued; on the CPU the tensor itself.
 */
export function toDeviceAsync(x: Tensor, device: string): Tensor {
  if (device === 'cpu' || device === x.device) return x;
  if (!device.startsWith('cuda')) return toDevice(x, device);
  return pinnedToDevice(x, device);
}

function pinnedToDevice(x: Tensor, device: string): Tensor {
  const pinned = x.pinMemory();
  try {
    return toDevice(pinned, device, true);
  } finally {
    pinned.dispose();
  }
}
