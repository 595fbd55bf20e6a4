// Batch normalisation over [N, C, H, W], like PyTorch's BatchNorm2d: batch statistics in
// training (updating the running ones), running statistics in evaluation.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { emptyParameter, type FactoryOptions, type Parameter } from './parameter.js';
import * as init from './init.js';

export interface BatchNormOptions extends FactoryOptions {
  eps?: number;
  /** Weight of the newest batch in the running statistics; null: a cumulative average. */
  momentum?: number | null;
  /** Learnable per-channel scale (weight) and shift (bias). */
  affine?: boolean;
  /** Keep running_mean/running_var (else batch statistics are used in evaluation too). */
  trackRunningStats?: boolean;
}

export class BatchNorm2d extends Module {
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Parameter | undefined;
  readonly bias: Parameter | undefined;
  readonly runningMean: Tensor | undefined;
  readonly runningVar: Tensor | undefined;
  readonly numBatchesTracked: Tensor | undefined;

  constructor(readonly numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.affine = o.affine ?? true;
    this.trackRunningStats = o.trackRunningStats ?? true;
    if (this.affine) {
      this.weight = this.registerParameter('weight', init.ones_(emptyParameter([numFeatures], o)));
      this.bias = this.registerParameter('bias', init.zeros_(emptyParameter([numFeatures], o)));
    }
    if (this.trackRunningStats) {
      const f = { dtype: o.dtype ?? 'float32', device: o.device } as const;
      this.runningMean = this.registerBuffer('running_mean', torch.zeros([numFeatures], f));
      this.runningVar = this.registerBuffer('running_var', torch.ones([numFeatures], f));
      this.numBatchesTracked = this.registerBuffer('num_batches_tracked', torch.zeros([], { dtype: 'int64', device: o.device }));
    }
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d: expected 4D input [N, C, H, W], got shape [${x.shape.join(', ')}]`);
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      this.numBatchesTracked.add_(1);
      if (this.momentum === null) factor = 1 / this.numBatchesTracked.item();
    }
    // Evaluation uses the running statistics when there are any; training never updates
    // them when they are not tracked.
    const useStats = !this.training || this.trackRunningStats;
    const batchStats = this.training || this.runningMean === undefined;
    return torch.batchNorm(x, useStats ? this.runningMean : undefined, useStats ? this.runningVar : undefined, this.weight, this.bias, batchStats, factor, this.eps);
  }
}
