// Flattens dimensions startDim..endDim into one (by default all but the batch dimension).
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}
