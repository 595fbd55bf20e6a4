// Dropout: in training, zeroes each element with probability p and scales the rest by
// 1/(1-p); in evaluation, the identity.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return torch.dropout(x, this.p, this.training);
  }
}
