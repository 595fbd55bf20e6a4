// Module: the base of every layer and model. Parameters, buffers and child modules are
// registered under names, and their dotted paths ("layer1.0.conv1.weight") are PyTorch's
// state_dict keys, so torchvision's weights load unchanged.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Parameter } from './parameter.js';

// `any` lets a container hold modules of every forward signature.
export type AnyModule = Module<any[], unknown>;

export interface LoadResult {
  /** Keys the module has but the state dict lacks. */
  missing: string[];
  /** Keys the state dict has but the module lacks. */
  unexpected: string[];
  /** Keys in both whose shapes differ (not copied). */
  mismatched: string[];
}

const join = (prefix: string, name: string): string => (prefix ? `${prefix}.${name}` : name);
const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Subclasses register what they own in their constructor and keep typed fields to it:
 *   this.conv1 = this.registerModule('conv1', new Conv2d(3, 64, 7));
 * and compute in forward(). Call a module as `m.forward(x)`.
 */
export abstract class Module<I extends unknown[] = [Tensor], O = Tensor> {
  /** Training mode (batch statistics, dropout) or evaluation mode; see train()/eval(). */
  training = true;
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownModules = new Map<string, AnyModule>();

  abstract forward(...input: I): O;

  // ---------- registration ----------
  private checkName(kind: 'parameter' | 'buffer' | 'module', name: string): void {
    if (name === '' || name.includes('.')) throw new Error(`cannot register ${kind} "${name}": names must be non-empty and contain no "."`);
    const taken = this.ownParameters.has(name) ? 'parameter' : this.ownBuffers.has(name) ? 'buffer' : this.ownModules.has(name) ? 'module' : undefined;
    if (taken && taken !== kind) throw new Error(`cannot register ${kind} "${name}": it is already a ${taken} of ${this.constructor.name}`);
  }

  /** Registers (or replaces, keeping its place) a parameter; returns it. */
  registerParameter<P extends Parameter>(name: string, p: P): P {
    this.checkName('parameter', name);
    this.ownParameters.set(name, p);
    return p;
  }

  /**
   * Registers (or replaces) a buffer: state saved in the state dict but not trained,
   * such as batch-norm running statistics. The module takes ownership (keep()s it).
   */
  registerBuffer<T extends Tensor>(name: string, t: T): T {
    this.checkName('buffer', name);
    this.ownBuffers.set(name, torch.keep(t));
    return t;
  }

  /** Registers (or replaces, keeping its place) a child module; returns it. */
  registerModule<M extends AnyModule>(name: string, m: M): M {
    this.checkName('module', name);
    this.ownModules.set(name, m);
    return m;
  }

  // ---------- traversal (registration order, like PyTorch) ----------
  /** This module (under '') and every descendant, depth first, each once. */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [];
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule, path: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([path, m]);
      for (const [name, c] of m.ownModules) visit(c, join(path, name));
    };
    visit(this, prefix);
    return out;
  }

  modules(): AnyModule[] {
    return this.namedModules().map(([, m]) => m);
  }

  namedChildren(): [string, AnyModule][] {
    return [...this.ownModules];
  }

  children(): AnyModule[] {
    return [...this.ownModules.values()];
  }

  /** Every parameter with its dotted name, each once (a shared one under its first name). */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [path, m] of this.namedModules()) {
      for (const [name, p] of m.ownParameters) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([join(path, name), p]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules()) {
      for (const [name, b] of m.ownBuffers) {
        if (seen.has(b)) continue;
        seen.add(b);
        out.push([join(path, name), b]);
      }
    }
    return out;
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Parameters then buffers of each module, depth first: the state dict's keys and order. */
  private stateEntries(prefix: string, out: [string, Tensor][]): [string, Tensor][] {
    for (const [name, p] of this.ownParameters) out.push([join(prefix, name), p]);
    for (const [name, b] of this.ownBuffers) out.push([join(prefix, name), b]);
    for (const [name, m] of this.ownModules) m.stateEntries(join(prefix, name), out);
    return out;
  }

  // ---------- state dict ----------
  /**
   * Every parameter and buffer under its PyTorch key, as detached views sharing the
   * module's storage (new handles: dispose them, or call this inside tidy()).
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.stateEntries('', []).map(([k, t]) => [k, t.detach()]));
  }

  /**
   * Copies values into this module's parameters and buffers, in place (converting dtype
   * and device). Strict: any missing, unexpected or mis-shaped key throws one error
   * listing them all, before anything is copied. Not strict: copies what matches and
   * reports the rest.
   */
  loadStateDict(sd: ReadonlyMap<string, Tensor>, { strict = true }: { strict?: boolean } = {}): LoadResult {
    const own = this.stateEntries('', []);
    const missing: string[] = [];
    const mismatched: string[] = [];
    const details: string[] = [];
    const copies: [Tensor, Tensor][] = [];
    for (const [key, t] of own) {
      const v = sd.get(key);
      if (v === undefined) {
        missing.push(key);
      } else if (shapeStr(v.shape) !== shapeStr(t.shape)) {
        mismatched.push(key);
        details.push(`${key} (expected ${shapeStr(t.shape)}, got ${shapeStr(v.shape)})`);
      } else {
        copies.push([t, v]);
      }
    }
    const ownKeys = new Set(own.map(([k]) => k));
    const unexpected = [...sd.keys()].filter((k) => !ownKeys.has(k));
    if (strict && missing.length + unexpected.length + mismatched.length > 0) {
      const lines = [];
      if (missing.length) lines.push(`missing keys: ${missing.join(', ')}`);
      if (unexpected.length) lines.push(`unexpected keys: ${unexpected.join(', ')}`);
      if (mismatched.length) lines.push(`shape mismatches: ${details.join(', ')}`);
      throw new Error(`loadStateDict: the state dict does not fit ${this.constructor.name}:\n  ${lines.join('\n  ')}`);
    }
    torch.noGrad(() => {
      for (const [t, v] of copies) t.copy_(v);
    });
    return { missing, unexpected, mismatched };
  }

  // ---------- modes and gradients ----------
  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every descendant, then on this module (like PyTorch's apply). */
  apply(fn: (m: AnyModule) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Stores every 4-D parameter and buffer channels-last, the layout the convolution kernels
   * work in (a contiguous weight costs them a reordering copy per call), like PyTorch's
   * module.to(memory_format=torch.channels_last). Values, tensor identities (optimizers keep
   * theirs) and state-dict keys and bytes are unchanged.
   */
  toChannelsLast(): this {
    torch.tidy(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        if (t.ndim === 4) torch.noGrad(() => torch.setData_(t, t.contiguous(torch.memoryFormat.channelsLast)));
      }
    });
    return this;
  }

  /**
   * Moves every parameter and buffer to a device ('cpu', 'cuda', 'cuda:1'), like PyTorch's
   * module.to(device): tensor identities (so optimizers built afterwards or before see the
   * same objects), layouts, dtypes and state-dict keys are unchanged.
   */
  to(device: string): this {
    for (const t of [...this.parameters(), ...this.buffers()]) t.moveTo_(device);
    return this;
  }

  /** Stops gradients for every parameter of this module (they keep their values in training). */
  freeze(): this {
    for (const p of this.parameters()) p.freeze();
    return this;
  }

  unfreeze(): this {
    for (const p of this.parameters()) p.unfreeze();
    return this;
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = undefined;
  }

  /** Frees every parameter and buffer of this module and its descendants. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
    for (const b of this.buffers()) b.dispose();
  }
}
