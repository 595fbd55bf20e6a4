// Pooling layers over [N, C, H, W].
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import type { Pair } from './conv.js';

export interface MaxPool2dOptions {
  /** Defaults to the kernel size. */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: MaxPool2dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    const o = this.options;
    return torch.maxPool2d(x, this.kernelSize, o.stride, o.padding, o.dilation, o.ceilMode);
  }
}

export interface AvgPool2dOptions {
  /** Defaults to the kernel size. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
  /** Count the zero padding in the average's denominator. */
  countIncludePad?: boolean;
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: AvgPool2dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    const o = this.options;
    return torch.avgPool2d(x, this.kernelSize, o.stride, o.padding, o.ceilMode, o.countIncludePad);
  }
}

/** Averages each channel down to outputSize (1: global average pooling). */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: Pair) {
    super();
  }

  forward(x: Tensor): Tensor {
    return torch.adaptiveAvgPool2d(x, this.outputSize);
  }
}
