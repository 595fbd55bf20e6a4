// Exponential moving average of a model's weights, as timm's ModelEmaV2: a copy of the whole
// state dict (parameters and batch-norm running statistics), updated after every optimizer
// step as  e ← decay·e + (1 − decay)·m,  evaluated and saved beside the raw weights.
// Integer buffers (batch norm's num_batches_tracked) are copied, not averaged.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { isFloating } from '../torch/index.js';
import type { Module } from '../nn/index.js';

type AnyModule = Module<any[], unknown>;

export class ModelEma {
  /** The averaged state dict, in the module's keys and order (owned: dispose() frees it). */
  readonly state: Map<string, Tensor>;

  constructor(module: AnyModule, readonly decay: number) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`EMA decay must be in [0, 1), got ${decay}`);
    this.state = torch.noGrad(() => torch.tidy(() => torch.keep(new Map([...module.stateDict()].map(([k, t]) => [k, t.clone()])))));
  }

  /** One update from the module's current state (call after each optimizer step). */
  update(module: AnyModule): void {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const [k, m] of module.stateDict()) {
          const e = this.entry(k);
          if (isFloating(e.dtype)) e.copy_(e.mul(this.decay).add(m.mul(1 - this.decay)));
          else e.copy_(m);
        }
      }),
    );
  }

  /** Replaces the average by a saved one (resume); keys and shapes must match. */
  load(sd: ReadonlyMap<string, Tensor>): void {
    const keys = [...this.state.keys()];
    if (sd.size !== keys.length || keys.some((k) => !sd.has(k))) throw new Error(`EMA state: expected the keys of the model's state dict (${keys.length}), got ${sd.size} others`);
    torch.noGrad(() => {
      for (const [k, e] of this.state) e.copy_(sd.get(k)!);
    });
  }

  /** Runs fn with the averaged weights in the module, then puts the module's own back. */
  async withWeights<T>(module: AnyModule, fn: () => Promise<T>): Promise<T> {
    const own = torch.noGrad(() => torch.keep(new Map([...module.stateDict()].map(([k, t]) => [k, t.clone()]))));
    try {
      module.loadStateDict(this.state);
      return await fn();
    } finally {
      module.loadStateDict(own);
      torch.dispose(own);
    }
  }

  /** The averaged copies of the module's buffers (batch-norm running statistics and counters). */
  buffers(module: AnyModule): Tensor[] {
    return module.namedBuffers().map(([k]) => this.entry(k));
  }

  dispose(): void {
    torch.dispose(this.state);
  }

  private entry(key: string): Tensor {
    const e = this.state.get(key);
    if (!e) throw new Error(`EMA: the model has a tensor "${key}" that the average does not`);
    return e;
  }
}
