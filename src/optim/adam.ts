// Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), in PyTorch 1.13's exact
// arithmetic:
//   Adam adds weight_decay·p to the gradient; AdamW instead shrinks p by (1 - lr·weight_decay).
//   m = β1·m + (1-β1)·g,  v = β2·v + (1-β2)·g²   (v̂ = max(v̂, v) with amsgrad)
//   p = p - lr/(1-β1ᵗ) · m / (√v / √(1-β2ᵗ) + eps)
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Optimizer, type GroupOptions, type ParamGroup, type ParamGroupInit } from './optimizer.js';

export interface AdamOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
}

type AdamState = { step?: number; expAvg?: Tensor; expAvgSq?: Tensor; maxExpAvgSq?: Tensor };
type AdamInit = Partial<AdamOptions> & { lr?: number };

abstract class AdamBase extends Optimizer<AdamOptions, AdamState> {
  /** Whether weight decay is decoupled from the gradient (AdamW) or added to it (Adam). */
  protected abstract readonly decoupled: boolean;

  override addParamGroup(init: ParamGroupInit<AdamOptions>): void {
    super.addParamGroup(init);
    const g = this.paramGroups[this.paramGroups.length - 1];
    const name = this.constructor.name;
    if (!(g.lr >= 0)) throw new Error(`${name}: invalid learning rate ${g.lr}`);
    if (!(g.eps >= 0)) throw new Error(`${name}: invalid eps ${g.eps}`);
    g.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new Error(`${name}: invalid beta at index ${i}: ${b} (expected 0 <= beta < 1)`);
    });
    if (!(g.weightDecay >= 0)) throw new Error(`${name}: invalid weightDecay ${g.weightDecay}`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>): void {
    const [beta1, beta2] = g.betas;
    const s = this.stateOf(p);
    if (s.step === undefined) {
      s.step = 0;
      s.expAvg = torch.keep(torch.zerosLike(p));
      s.expAvgSq = torch.keep(torch.zerosLike(p));
    }
    const expAvg = s.expAvg as Tensor;
    const expAvgSq = s.expAvgSq as Tensor;
    const step = ++s.step;

    if (this.decoupled) p.mul_(1 - g.lr * g.weightDecay);
    else if (g.weightDecay !== 0) grad = grad.add(p, g.weightDecay);

    expAvg.mul_(beta1).add_(grad, 1 - beta1);
    torch.addcmul_(expAvgSq.mul_(beta2), grad, grad, 1 - beta2);

    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const stepSize = g.lr / biasCorrection1;
    let v = expAvgSq;
    if (g.amsgrad) {
      s.maxExpAvgSq ??= torch.keep(torch.zerosLike(p));
      s.maxExpAvgSq.copy_(torch.maximum(s.maxExpAvgSq, expAvgSq));
      v = s.maxExpAvgSq;
    }
    const denom = v.sqrt().div(Math.sqrt(biasCorrection2)).add_(g.eps);
    torch.addcdiv_(p, expAvg, denom, -stepSize);
  }
}

export class Adam extends AdamBase {
  protected readonly decoupled = false;

  constructor(params: Tensor[] | ParamGroupInit<AdamOptions>[], o: AdamInit = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, ...o });
  }
}

export class AdamW extends AdamBase {
  protected readonly decoupled = true;

  constructor(params: Tensor[] | ParamGroupInit<AdamOptions>[], o: AdamInit = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, ...o });
  }
}
