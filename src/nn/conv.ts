// 2-D convolution, initialised like PyTorch's Conv2d.reset_parameters.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { emptyParameter, type FactoryOptions, type Parameter } from './parameter.js';
import * as init from './init.js';

export type Pair = number | [number, number];
const pair = (x: Pair): [number, number] => (typeof x === 'number' ? [x, x] : x);

export interface Conv2dOptions extends FactoryOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, o: Conv2dOptions = {}) {
    super();
    this.kernelSize = pair(kernelSize);
    this.stride = pair(o.stride ?? 1);
    this.padding = pair(o.padding ?? 0);
    this.dilation = pair(o.dilation ?? 1);
    this.groups = o.groups ?? 1;
    if (inChannels % this.groups !== 0) throw new Error(`Conv2d: inChannels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0) throw new Error(`Conv2d: outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    this.weight = this.registerParameter('weight', emptyParameter([outChannels, inChannels / this.groups, ...this.kernelSize], o));
    this.bias = (o.bias ?? true) ? this.registerParameter('bias', emptyParameter([outChannels], o)) : undefined;
    this.resetParameters();
  }

  /** kaiming_uniform_(a=√5), i.e. uniform on ±1/√fan_in, for weight and bias alike. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      if (fanIn !== 0) {
        const bound = 1 / Math.sqrt(fanIn);
        init.uniform_(this.bias, -bound, bound);
      }
    }
  }

  forward(x: Tensor): Tensor {
    return torch.conv2d(x, this.weight, this.bias, this.stride, this.padding, this.dilation, this.groups);
  }
}
