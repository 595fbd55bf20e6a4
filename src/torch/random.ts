// Seeds and generator state: the same seed gives the same numbers; saving and
// restoring the state makes a resumed run draw what the uninterrupted one would.
import { native } from './native.js';
import { Tensor } from './tensor.js';

export function manualSeed(seed: number | bigint): void {
  native().manualSeed(seed);
}

/** A device's default generator state (the CPU's by default; 'cuda:N' a GPU's) as a uint8 CPU tensor. */
export function getRngState(device = 'cpu'): Tensor {
  return new Tensor(native().getRngState(device));
}

export function setRngState(state: Tensor, device = 'cpu'): void {
  native().setRngState(state.handle, device);
}
