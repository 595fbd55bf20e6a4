// Fully connected layer y = x·Wᵀ + b (initialised like PyTorch's Linear), and Identity.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { emptyParameter, type FactoryOptions, type Parameter } from './parameter.js';
import * as init from './init.js';

export interface LinearOptions extends FactoryOptions {
  bias?: boolean;
}

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: LinearOptions = {}) {
    super();
    this.weight = this.registerParameter('weight', emptyParameter([outFeatures, inFeatures], o));
    this.bias = (o.bias ?? true) ? this.registerParameter('bias', emptyParameter([outFeatures], o)) : undefined;
    this.resetParameters();
  }

  /** kaiming_uniform_(a=√5), i.e. uniform on ±1/√in_features, for weight and bias alike. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return torch.linear(x, this.weight, this.bias);
  }
}

/** Returns its input: a placeholder where a layer is optional (a removed classifier head). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
