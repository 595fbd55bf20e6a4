// A Parameter is a tensor a module trains: a leaf that requires gradients unless frozen.
import * as torch from '../torch/index.js';
import { Tensor, type DType } from '../torch/index.js';
import type { Handle } from '../torch/native.js';

export class Parameter extends Tensor {
  /**
   * A new leaf sharing data's storage (like torch.nn.Parameter). `data` stays valid and
   * is still yours to dispose; the parameter itself is never disposed by tidy(): its
   * module owns it (Module.dispose()).
   */
  constructor(data: Tensor, requiresGrad = true) {
    super(torch.op('detach').call([data.handle]) as Handle);
    torch.keep(this);
    if (requiresGrad) this.requiresGrad_(true);
  }

  /** A frozen parameter gets no gradient, so optimizers leave it unchanged. */
  get frozen(): boolean {
    return !this.requiresGrad;
  }

  freeze(): this {
    return this.requiresGrad_(false);
  }

  unfreeze(): this {
    return this.requiresGrad_(true);
  }
}

export interface FactoryOptions {
  dtype?: DType;
  device?: string;
}

/** A parameter of uninitialised values, for an init scheme to fill. */
export function emptyParameter(shape: readonly number[], o: FactoryOptions = {}): Parameter {
  return torch.tidy(() => new Parameter(torch.empty(shape, { dtype: o.dtype ?? 'float32', device: o.device })));
}
