// Gradient recording switches, like torch.no_grad() / torch.enable_grad().
import { native } from './native.js';

function withGrad<T>(on: boolean, fn: () => T): T {
  const n = native();
  const prev = n.isGradEnabled();
  n.setGradEnabled(on);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad/enableGrad: fn must be synchronous (grad mode is per call stack, not per promise)');
    return r;
  } finally {
    n.setGradEnabled(prev);
  }
}

/** Runs fn without recording operations for autograd. */
export const noGrad = <T>(fn: () => T): T => withGrad(false, fn);
/** Runs fn with autograd recording on (inside a noGrad). */
export const enableGrad = <T>(fn: () => T): T => withGrad(true, fn);
export const isGradEnabled = (): boolean => native().isGradEnabled();
