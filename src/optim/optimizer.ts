// Optimizer: parameter groups with their own hyper-parameters, per-parameter state, and a
// state dict in PyTorch's layout (state keyed by parameter index, counted across groups).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Hyper-parameters every optimizer has. */
export interface GroupOptions {
  lr: number;
}

/** A group's parameters and hyper-parameters; schedulers also record its initialLr. */
export type ParamGroup<O extends GroupOptions> = O & { params: Tensor[]; initialLr?: number };

/** A group as given to an optimizer: options left out take the optimizer's defaults. */
export type ParamGroupInit<O extends GroupOptions> = Partial<O> & { params: Tensor[] };

/** What an optimizer keeps per parameter (momentum buffers, moment estimates, step counts). */
export type ParamState = Record<string, Tensor | number | undefined>;

export type GroupState = Record<string, unknown> & { params: number[] };

export interface OptimizerStateDict {
  /** Per-parameter state, by index: the parameters of group 0 first, then group 1's, ... */
  state: Map<number, Record<string, Tensor | number>>;
  /** Each group's hyper-parameters, with the indices of its parameters. */
  paramGroups: GroupState[];
}

/** A group's hyper-parameters without its params (arrays such as betas copied, not shared). */
function fieldsOf(group: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(group)) if (k !== 'params' && v !== undefined) out[k] = Array.isArray(v) ? [...v] : v;
  return out;
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions, S extends ParamState = ParamState> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** State of each parameter that has been stepped. */
  readonly state = new Map<Tensor, S>();

  constructor(params: Tensor[] | ParamGroupInit<O>[], readonly defaults: O) {
    if (params.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    const groups = (params as unknown[]).every((p) => p instanceof torch.Tensor) ? [{ params: params as Tensor[] }] : (params as ParamGroupInit<O>[]);
    for (const g of groups) this.addParamGroup(g as ParamGroupInit<O>);
  }

  /** Adds a group (e.g. a new head while fine-tuning); missing options take the defaults. */
  addParamGroup(init: ParamGroupInit<O>): void {
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of init.params) {
      if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one parameter group (or twice in one)`);
      seen.add(p);
    }
    const group = { ...fieldsOf(this.defaults), ...fieldsOf(init), params: [...init.params] };
    this.paramGroups.push(group as unknown as ParamGroup<O>);
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = undefined;
  }

  /** One update of every parameter that has a gradient; frozen ones are left alone. */
  step(): void {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const group of this.paramGroups) {
          for (const p of group.params) {
            if (!p.requiresGrad) continue;
            const grad = p.grad;
            if (grad !== undefined) this.update(p, grad, group);
          }
        }
      }),
    );
  }

  /**
   * Updates one parameter in place. Runs under noGrad inside tidy(): state tensors it
   * creates must be torch.keep()-ed.
   */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>): void;

  /** The state of p, created empty on first use. */
  protected stateOf(p: Tensor): S {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = {} as S));
    return s;
  }

  /**
   * Hyper-parameters and state for an exact resume. State tensors are detached views of
   * the live ones (new handles: dispose them, or call inside tidy()); save them before the
   * next step.
   */
  stateDict(): OptimizerStateDict {
    const state = new Map<number, Record<string, Tensor | number>>();
    const paramGroups: GroupState[] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const saved: GroupState = { ...fieldsOf(group), params: [] };
      for (const p of group.params) {
        const s = this.state.get(p);
        if (s) {
          const entry: Record<string, Tensor | number> = {};
          for (const [k, v] of Object.entries(s)) if (v !== undefined) entry[k] = typeof v === 'number' ? v : v.detach();
          state.set(index, entry);
        }
        saved.params.push(index++);
      }
      paramGroups.push(saved);
    }
    return { state, paramGroups };
  }

  /**
   * Restores hyper-parameters and state saved by stateDict() from an optimizer of the same
   * kind over the same parameters (same groups and sizes). Tensors are copied, converted to
   * each parameter's dtype and device.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.constructor.name;
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${name}.loadStateDict: the state has ${sd.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    }
    const byIndex: Tensor[] = [];
    sd.paramGroups.forEach((saved, i) => {
      const group = this.paramGroups[i];
      if (saved.params.length !== group.params.length) {
        throw new Error(`${name}.loadStateDict: parameter group ${i} has ${saved.params.length} parameters in the state, ${group.params.length} here`);
      }
      const known = new Set(Object.keys(this.defaults).concat('initialLr'));
      for (const k of Object.keys(saved)) {
        if (k !== 'params' && !known.has(k)) throw new Error(`${name}.loadStateDict: parameter group ${i} has unknown field "${k}" (expected ${[...known].join(', ')})`);
      }
      for (const k of Object.keys(this.defaults)) {
        if (!(k in saved)) throw new Error(`${name}.loadStateDict: parameter group ${i} lacks field "${k}"`);
      }
      saved.params.forEach((index, j) => (byIndex[index] = group.params[j]));
    });
    // Check everything before changing anything.
    for (const [index, entry] of sd.state) {
      const p = byIndex[index];
      if (p === undefined) throw new Error(`${name}.loadStateDict: state for parameter ${index}, which no group lists`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'number' && v.shape.join() !== p.shape.join()) {
          throw new Error(`${name}.loadStateDict: state "${k}" of parameter ${index} has shape [${v.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
        }
      }
    }
    sd.paramGroups.forEach((saved, i) => Object.assign(this.paramGroups[i], fieldsOf(saved)));
    this.dispose();
    torch.noGrad(() => {
      for (const [index, entry] of sd.state) {
        const p = byIndex[index];
        const s: ParamState = {};
        for (const [k, v] of Object.entries(entry)) s[k] = typeof v === 'number' ? v : torch.keep(torch.tidy(() => torch.zerosLike(p).copy_(v)));
        this.state.set(p, s as S);
      }
    });
  }

  /** Frees the state tensors (the parameters belong to their module). */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (typeof v === 'object') v.dispose();
    this.state.clear();
  }
}
