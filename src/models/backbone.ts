// What SpotTune and the baselines need to know of a ResNet: a stem, an ordered list of
// residual blocks, and a head. Every model in this folder has this shape.
import type { Tensor } from '../torch/index.js';
import { BatchNorm2d, Linear, Module, type Parameter } from '../nn/index.js';

/** A residual block: forward(x) = relu(residual(x) + shortcut(x)). */
export interface ResidualBlock extends Module {
  forward(x: Tensor): Tensor;
}

export interface Backbone extends Module {
  /** Everything before the first block. */
  stem(x: Tensor): Tensor;
  /** The residual blocks, in order (the units SpotTune decides about). */
  readonly blocks: ResidualBlock[];
  /** Everything after the last block up to the classifier: the pooled features [B, D]. */
  features(x: Tensor): Tensor;
  /** Everything after the last block: fc(features(x)), the logits. */
  head(x: Tensor): Tensor;
  /** The classifier (new and trained by every method). */
  readonly fc: Module;
  /** Number of classes of the classifier. */
  readonly numClasses: number;
  /** Swaps the classifier for a new, randomly initialised one with this many classes. */
  replaceClassifier(numClasses: number): void;
  forward(x: Tensor): Tensor;
}

/** Output channels of a residual block: its last batch norm's (bn2, bn3, or the downsample's: the same number). */
export function blockOutChannels(b: ResidualBlock): number {
  const bns = b.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
  if (bns.length === 0) throw new Error(`cannot tell the output channels of a ${b.constructor.name} (no batch norm)`);
  return bns[bns.length - 1].numFeatures;
}

/** head(blocks(stem(x))): the plain forward pass every backbone shares. */
export function backboneForward(net: Backbone, x: Tensor): Tensor {
  let h = net.stem(x);
  for (const b of net.blocks) h = b.forward(h);
  return net.head(h);
}

/**
 * The parameters layer by layer from the input up: the stem (every parameter registered before
 * the first block), each block, the head (every parameter after the last block: BN and
 * classifier). Per-layer learning rates (--layer-decay) follow this order.
 */
export function backboneLayers(net: Backbone): Parameter[][] {
  const inBlock = new Map(net.blocks.flatMap((b, i) => b.parameters().map((p) => [p, i] as const)));
  const stem: Parameter[] = [];
  const head: Parameter[] = [];
  let seenBlock = false;
  for (const p of net.parameters()) {
    if (inBlock.has(p)) seenBlock = true;
    else (seenBlock ? head : stem).push(p);
  }
  return [stem, ...net.blocks.map((b) => b.parameters()), head];
}

/** What the ResNets here share: a Linear classifier `fc` that can be replaced. */
export abstract class ResNetBase extends Module implements Backbone {
  fc!: Linear;
  abstract readonly blocks: ResidualBlock[];
  abstract stem(x: Tensor): Tensor;
  abstract features(x: Tensor): Tensor;

  head(x: Tensor): Tensor {
    return this.fc.forward(this.features(x));
  }

  get numClasses(): number {
    return this.fc.outFeatures;
  }

  replaceClassifier(numClasses: number): void {
    const old = this.fc;
    this.fc = this.registerModule('fc', new Linear(old.inFeatures, numClasses));
    old.dispose();
  }

  forward(x: Tensor): Tensor {
    return backboneForward(this, x);
  }
}
