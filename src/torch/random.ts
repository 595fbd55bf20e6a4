// Seeds and generator state: the same seed gives the same numbers; saving and
// restoring the state makes a resumed run draw what the uninterrupted one would.
import { native } from './native.js';
import { Tensor } from './tensor.js';

export function manualSeed(seed: number | bigint): void {
  native().manualSeed(seed);
}

/** The CPU generator's state as a uint8 tensor. */
export function getRngState(): Tensor {
  return new Tensor(native().getRngState());
}

export function setRngState(state: Tensor): void {
  native().setRngState(state.handle);
}
