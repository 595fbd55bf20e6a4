// Sequential: modules applied in order, registered as children "0", "1", ... like PyTorch,
// so `layer1.0.conv1.weight` names a block's weight.
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';

export type TensorModule = Module<[Tensor], Tensor>;

export class Sequential<M extends TensorModule = TensorModule> extends Module implements Iterable<M> {
  private readonly layers: M[] = [];

  /** Give M to type at() and iteration (new Sequential<Block>(...)); it is never inferred. */
  constructor(...layers: NoInfer<M>[]) {
    super();
    for (const m of layers) this.append(m);
  }

  append(m: M): this {
    this.registerModule(String(this.layers.length), m);
    this.layers.push(m);
    return this;
  }

  get length(): number {
    return this.layers.length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): M {
    const m = this.layers.at(i);
    if (m === undefined) throw new RangeError(`Sequential.at(${i}): it has ${this.layers.length} modules`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.layers[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}
