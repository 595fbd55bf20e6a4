// Stochastic gradient descent with momentum, in PyTorch 1.13's exact order of operations:
//   g = grad + weight_decay·p
//   buf = g (first step) | momentum·buf + (1 - dampening)·g
//   g = g + momentum·buf (Nesterov) | buf
//   p = p - lr·g
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamGroupInit } from './optimizer.js';

export interface SGDOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

type SGDState = { momentumBuffer?: Tensor };

export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Tensor[] | ParamGroupInit<SGDOptions>[], o: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...o });
  }

  override addParamGroup(init: ParamGroupInit<SGDOptions>): void {
    super.addParamGroup(init);
    const g = this.paramGroups[this.paramGroups.length - 1];
    if (!(g.lr >= 0)) throw new Error(`SGD: invalid learning rate ${g.lr}`);
    if (!(g.momentum >= 0)) throw new Error(`SGD: invalid momentum ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new Error(`SGD: invalid weightDecay ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error('SGD: Nesterov momentum needs momentum > 0 and dampening 0');
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>): void {
    const buf = g.momentum !== 0 ? this.stateOf(p).momentumBuffer : undefined;
    if (buf !== undefined) {
      // The usual step: one pass over memory on the CPU (native/src/kernels/sgd.cc), same arithmetic.
      torch.sgdUpdate_(p, grad, buf, g);
      return;
    }
    let d = g.weightDecay !== 0 ? grad.add(p, g.weightDecay) : grad;
    if (g.momentum !== 0) {
      const first = (this.stateOf(p).momentumBuffer = torch.keep(d.clone()));
      d = g.nesterov ? d.add(first, g.momentum) : first;
    }
    p.add_(d, -g.lr);
  }
}
