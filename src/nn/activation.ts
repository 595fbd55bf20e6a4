// Activation layers.
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

export class ReLU extends Module {
  /** inplace overwrites the input (saves memory when nothing else needs it). */
  constructor(readonly inplace = false) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.inplace ? x.relu_() : x.relu();
  }
}
