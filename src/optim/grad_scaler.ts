// Dynamic loss scaling for float16 training, with the semantics of PyTorch's GradScaler: the
// loss is multiplied by a scale before backward, so small float16 gradients do not flush to
// zero; the gradients are divided by it again (unscale) before anything reads them (clipping,
// the optimizer's weight decay); a step whose gradients hold Inf/NaN is skipped and the scale
// backed off; after `growthInterval` good steps in a row the scale grows.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Optimizer } from './optimizer.js';

export interface GradScalerOptions {
  initScale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  /** false: scale 1, nothing skipped (one code path for every precision). */
  enabled: boolean;
}

export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  growthTracker: number;
}

export const gradScalerDefaults: GradScalerOptions = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, enabled: true };

export class GradScaler {
  private scaleValue: number;
  private growthTracker = 0;
  readonly o: GradScalerOptions;
  /** Optimizers unscaled since the last update(), with whether their gradients were all finite. */
  private readonly unscaled = new Map<Optimizer<any, any>, boolean>();
  /** Steps skipped since construction (for logs). */
  skippedSteps = 0;

  constructor(o: Partial<GradScalerOptions> = {}) {
    this.o = { ...gradScalerDefaults, ...o };
    const { initScale, growthFactor, backoffFactor, growthInterval } = this.o;
    if (!(initScale > 0) || !Number.isFinite(initScale)) throw new RangeError(`GradScaler: initScale must be a positive number, got ${initScale}`);
    if (!(growthFactor > 1)) throw new RangeError(`GradScaler: growthFactor must be > 1, got ${growthFactor}`);
    if (!(backoffFactor > 0 && backoffFactor < 1)) throw new RangeError(`GradScaler: backoffFactor must be in (0, 1), got ${backoffFactor}`);
    if (!Number.isInteger(growthInterval) || growthInterval < 1) throw new RangeError(`GradScaler: growthInterval must be a positive integer, got ${growthInterval}`);
    this.scaleValue = this.o.enabled ? initScale : 1;
  }

  get enabled(): boolean {
    return this.o.enabled;
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    return this.scaleValue;
  }

  /** loss · scale (the loss itself when disabled). */
  scale(loss: Tensor): Tensor {
    return this.o.enabled ? loss.mul(this.scaleValue) : loss;
  }

  /**
   * Divides the optimizer's gradients by the scale, in place, and records whether they are all
   * finite. Call it before reading the gradients (clipping); step() calls it otherwise. Once per
   * optimizer between update()s.
   */
  unscale_(opt: Optimizer<any, any>): void {
    if (!this.o.enabled) return;
    if (this.unscaled.has(opt)) throw new Error('GradScaler.unscale_: already called for this optimizer since the last update()');
    const inv = 1 / this.scaleValue;
    const finite = torch.noGrad(() =>
      torch.tidy(() => {
        const checks: Tensor[] = [];
        for (const g of opt.paramGroups) {
          for (const p of g.params) {
            const grad = p.grad;
            if (grad === undefined) continue;
            grad.mul_(inv);
            checks.push(torch.all(torch.isfinite(grad)));
          }
        }
        return checks.length === 0 || torch.all(torch.stack(checks)).item() === 1;
      }),
    );
    this.unscaled.set(opt, finite);
  }

  /** Unscales (if not yet) and steps the optimizer, unless its gradients hold Inf/NaN. Returns whether it stepped. */
  step(opt: Optimizer<any, any>): boolean {
    if (!this.o.enabled) {
      opt.step();
      return true;
    }
    if (!this.unscaled.has(opt)) this.unscale_(opt);
    if (!this.unscaled.get(opt)) return false;
    opt.step();
    return true;
  }

  /** Whether any optimizer unscaled since the last update() saw Inf/NaN gradients. */
  get foundInf(): boolean {
    return [...this.unscaled.values()].some((finite) => !finite);
  }

  /** Ends the iteration: backs off after Inf/NaN, grows after growthInterval good steps in a row. */
  update(): void {
    if (!this.o.enabled) return;
    if (this.unscaled.size === 0) throw new Error('GradScaler.update: no optimizer was unscaled or stepped since the last update()');
    if (this.foundInf) {
      this.scaleValue *= this.o.backoffFactor;
      this.growthTracker = 0;
      this.skippedSteps++;
    } else if (++this.growthTracker === this.o.growthInterval) {
      this.scaleValue *= this.o.growthFactor;
      this.growthTracker = 0;
    }
    this.unscaled.clear();
  }

  /** Forgets this iteration's unscale records without changing the scale (a step skipped for another reason). */
  discard(): void {
    this.unscaled.clear();
  }

  stateDict(): GradScalerState {
    const { growthFactor, backoffFactor, growthInterval } = this.o;
    return { scale: this.scaleValue, growthFactor, backoffFactor, growthInterval, growthTracker: this.growthTracker };
  }

  loadStateDict(s: GradScalerState): void {
    for (const k of ['scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'growthTracker'] as const) {
      if (typeof s[k] !== 'number' || !Number.isFinite(s[k])) throw new Error(`GradScaler state: field '${k}' must be a finite number, got ${JSON.stringify(s[k])}`);
    }
    this.scaleValue = s.scale;
    this.growthTracker = s.growthTracker;
    Object.assign(this.o, { growthFactor: s.growthFactor, backoffFactor: s.backoffFactor, growthInterval: s.growthInterval });
  }
}
