// Threads, devices and versions of the loaded libtorch.
import { MAX_THREADS, native } from './native.js';

/** Intra-op threads (default: all cores, or SPOTTUNE_THREADS). Do not change while ops run. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new RangeError(`setNumThreads: expected an integer in [1, ${MAX_THREADS}], got ${String(n)}`);
  native().setNumThreads(n);
}
export function getNumThreads(): number {
  return native().getNumThreads();
}
export function cudaDeviceCount(): number {
  return native().cudaDeviceCount();
}
export function cudaIsAvailable(): boolean {
  return native().cudaDeviceCount() > 0;
}
export function libtorchVersion(): string {
  return native().version();
}
