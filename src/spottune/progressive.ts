// Progressive Neural Networks (Rusu et al., "Progressive Neural Networks", arXiv:1606.04671,
// 2016), as the SpotTune paper runs them for transfer: the pre-trained network is a frozen
// column; a second column of the same architecture, randomly initialised, is trained on the
// target; lateral connections carry the frozen column's activations into the new one. Here
// each residual block l of the new column receives, added to its input, a 1×1 convolution of
// the frozen column's output of the layer before (its stem for the first block), and the head
// one of the frozen column's last block — Rusu et al.'s hᵢ⁽²⁾ = f(Wᵢ h⁽²⁾ᵢ₋₁ + Uᵢ h⁽¹⁾ᵢ₋₁) with a
// residual block as f and 1×1 convolutions as U (the paper's adapters reduce dimensions with
// 1×1 convolutions too). The frozen column keeps its weights and its batch-norm statistics.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Conv2d, Module, Sequential, type AnyModule, type Parameter } from '../nn/index.js';
import { backboneLayers, blockOutChannels, type Backbone, type ResidualBlock } from '../models/index.js';
import type { ModelOutput, ParamGroupSpec, TrainModel } from './method.js';

/** Input channels of a residual block: its first convolution's. */
function inChannels(b: ResidualBlock): number {
  const conv = b.modules().find((m): m is Conv2d => m instanceof Conv2d);
  if (!conv) throw new Error(`Progressive: cannot tell the input channels of a ${b.constructor.name} (no convolution)`);
  return conv.inChannels;
}

/**
 * The frozen column: a pre-trained backbone's stem and blocks (the children registered up to its
 * last stage; the head after them — classifier, ResNet-26's final batch norm — is dropped);
 * forward gives the stem's and every block's output.
 */
export class FrozenColumn extends Module<[Tensor], Tensor[]> {
  constructor(readonly net: Backbone) {
    super();
    const children = net.namedChildren();
    const inBlocks = new Set<AnyModule>(net.blocks);
    const last = Math.max(...children.map(([, m], i) => (m.modules().some((d) => inBlocks.has(d)) ? i : -1)));
    children.forEach(([name, m], i) => (i <= last ? this.registerModule(name, m) : m.dispose()));
    this.freeze();
  }

  /** [stem(x), block₀, …, block_{L−1}] outputs, without gradients. */
  forward(x: Tensor): Tensor[] {
    return torch.noGrad(() => {
      const out = [this.net.stem(x)];
      for (const b of this.net.blocks) out.push(b.forward(out[out.length - 1]));
      return out;
    });
  }
}

export class ProgressiveNet extends Module<[Tensor], Tensor> {
  /** The new column (random initialisation, target classifier): trained. */
  readonly column: Backbone;
  readonly frozen: FrozenColumn;
  /** L + 1 lateral 1×1 convolutions: into block l (l < L) and into the head (l = L). */
  readonly laterals: Sequential<Conv2d>;

  constructor(column: Backbone, pretrained: Backbone) {
    super();
    if (column.blocks.length !== pretrained.blocks.length) throw new Error('ProgressiveNet: the two columns have different numbers of blocks');
    this.column = this.registerModule('column', column);
    this.frozen = this.registerModule('frozen', new FrozenColumn(pretrained));
    const channels = [inChannels(pretrained.blocks[0]), ...pretrained.blocks.map(blockOutChannels)];
    this.laterals = this.registerModule('laterals', new Sequential<Conv2d>(...channels.map((c) => new Conv2d(c, c, 1, { bias: false }))));
    this.laterals.toChannelsLast();
    this.train();
  }

  get numBlocks(): number {
    return this.column.blocks.length;
  }

  /** The frozen column stays in evaluation mode: its batch norms keep their pre-trained statistics. */
  override train(mode = true): this {
    super.train(mode);
    this.frozen.eval();
    return this;
  }

  forward(x: Tensor): Tensor {
    const g = this.frozen.forward(x);
    let h = this.column.stem(x);
    for (let l = 0; l < this.numBlocks; l++) h = this.column.blocks[l].forward(h.add(this.laterals.at(l).forward(g[l])));
    return this.column.head(h.add(this.laterals.at(this.numBlocks).forward(g[this.numBlocks])));
  }
}

export class ProgressiveModel implements TrainModel {
  readonly numBlocks: number;

  constructor(readonly module: ProgressiveNet) {
    this.numBlocks = module.numBlocks;
  }

  setTraining(on: boolean): void {
    this.module.train(on);
  }

  /** Every block of the new column is trained: reported as fine-tuned for every image. */
  private decisions(x: Tensor): Tensor {
    return torch.ones([x.shape[0], this.numBlocks], { device: x.device });
  }

  forwardTrain(x: Tensor): ModelOutput {
    return { logits: this.module.forward(x), decisions: this.decisions(x) };
  }

  forwardEval(x: Tensor): ModelOutput {
    return torch.noGrad(() => this.forwardTrain(x));
  }

  paramGroups(): ParamGroupSpec[] {
    return [{ role: 'net', params: this.module.parameters().filter((p) => !p.frozen) }];
  }

  /** The new column's layers, each lateral with the block (or head) it feeds; the frozen column trains nothing. */
  layers(): Parameter[][] {
    const layers = backboneLayers(this.module.column);
    for (let l = 0; l <= this.numBlocks; l++) layers[l + 1].push(...this.module.laterals.at(l).parameters());
    return layers;
  }

  dispose(): void {
    this.module.dispose();
  }
}
