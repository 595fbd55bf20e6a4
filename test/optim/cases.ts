// The optimizer + schedule cases of fixtures/optim/trajectories.json (scripts/fixtures_optim.py
// builds the same ones in PyTorch), on a float64 linear regression y ≈ X·Wᵀ + b.
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';

export interface Step {
  params: [number[], number[]];
  lr: number[];
}
export const fixture = JSON.parse(readFileSync(new URL('../../fixtures/optim/trajectories.json', import.meta.url), 'utf8')) as {
  X: number[];
  y: number[];
  W0: number[];
  b0: number[];
  cases: Record<string, Step[]>;
};

type Make = (W: Tensor, b: Tensor) => [optim.Optimizer, optim.Scheduler];
export const cases: Record<string, Make> = {
  sgd_nesterov_multistep: (W, b) => {
    const opt = new optim.SGD([W, b], { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 });
    return [opt, new optim.MultiStepLR(opt, [3, 6, 6], 0.5)];
  },
  sgd_groups_dampening_multistep: (W, b) => {
    const opt = new optim.SGD([{ params: [W], weightDecay: 0.05 }, { params: [b], lr: 0.02 }], { lr: 0.1, momentum: 0.8, dampening: 0.1 });
    return [opt, new optim.MultiStepLR(opt, [2, 5], 0.1)];
  },
  adam_steplr: (W, b) => {
    const opt = new optim.Adam([W, b], { lr: 0.05, betas: [0.9, 0.99], weightDecay: 0.01 });
    return [opt, new optim.StepLR(opt, 3, 0.5)];
  },
  adam_amsgrad_cosine: (W, b) => {
    const opt = new optim.Adam([W, b], { lr: 0.1, eps: 1e-6, amsgrad: true });
    return [opt, new optim.CosineAnnealingLR(opt, 4, 0.001)];
  },
  adamw_warmup_cosine: (W, b) => {
    const opt = new optim.AdamW([W, b], { lr: 0.05, weightDecay: 0.1 });
    const warmup = new optim.LinearLR(opt, 0.2, 1, 3);
    const cosine = new optim.CosineAnnealingLR(opt, 7);
    return [opt, new optim.SequentialLR(opt, [warmup, cosine], [3])];
  },
};

const f64 = { dtype: 'float64' } as const;

/** The regression problem: data, and fresh parameters at the fixture's starting point. */
export class Problem {
  readonly X = torch.tensor(Float64Array.from(fixture.X), { shape: [8, 3] });
  readonly y = torch.tensor(Float64Array.from(fixture.y), { shape: [8, 1] });
  readonly W = torch.tensor(fixture.W0, { shape: [1, 3], ...f64, requiresGrad: true });
  readonly b = torch.tensor(fixture.b0, { ...f64, requiresGrad: true });

  /** One training step: zero the gradients, backpropagate the MSE, step both. */
  step(opt: optim.Optimizer, sched: optim.Scheduler): void {
    opt.zeroGrad();
    torch.tidy(() => torch.mseLoss(torch.linear(this.X, this.W, this.b), this.y).backward());
    opt.step();
    sched.step();
  }

  params(): [number[], number[]] {
    return [this.W.toArray(), this.b.toArray()];
  }

  dispose(): void {
    torch.dispose([this.X, this.y, this.W, this.b]);
  }
}
