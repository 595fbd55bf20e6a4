// The two-branch network of SpotTune (and of the random-policy baseline): for every residual
// block l, the frozen pre-trained block F_l and a fine-tuned copy F̂_l initialised from the
// same weights, mixed per image by a decision I_l(x) ∈ {0, 1}:
//   x_l = (1 − I_l)·F_l(x_{l−1}) + I_l·F̂_l(x_{l−1})
// (each block includes its shortcut and final ReLU, as in the reference code). The stem is
// shared and trainable, the head is new. Decisions come from outside (spottune_model.ts).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { BatchNorm2d, Conv2d, Module, Sequential } from '../nn/index.js';
import type { Backbone, ResidualBlock } from '../models/index.js';

export interface TwoBranchNetOptions {
  /**
   * Batch norm of the frozen blocks: 'train' (the reference code: trainable, batch
   * statistics in training) or 'eval' (frozen, running statistics always).
   */
  frozenBn?: 'train' | 'eval';
}

export class TwoBranchNet extends Module<[Tensor, Tensor], Tensor> {
  /** Stem, fine-tuned blocks F̂ and head: the trainable network. */
  readonly net: Backbone;
  /** The pre-trained blocks F. */
  readonly frozen: Sequential<ResidualBlock>;
  readonly frozenBn: 'train' | 'eval';

  /**
   * `net` and `source` hold the same pre-trained weights; `source` gives up its blocks to
   * become the frozen branch (its stem and head are disposed).
   */
  constructor(net: Backbone, source: Backbone, o: TwoBranchNetOptions = {}) {
    super();
    if (net.blocks.length !== source.blocks.length) throw new Error('TwoBranchNet: the two backbones have different numbers of blocks');
    this.net = this.registerModule('net', net);
    this.frozen = this.registerModule('frozen', new Sequential<ResidualBlock>(...source.blocks));
    const kept = new Set(this.frozen.parameters());
    for (const p of source.parameters()) if (!kept.has(p)) p.dispose();
    this.frozenBn = o.frozenBn ?? 'train';
    for (const m of this.frozen.modules()) {
      if (m instanceof Conv2d || (m instanceof BatchNorm2d && this.frozenBn === 'eval')) m.freeze();
    }
    this.train();
  }

  get numBlocks(): number {
    return this.frozen.length;
  }

  override train(mode = true): this {
    super.train(mode);
    if (this.frozenBn === 'eval') for (const m of this.frozen.modules()) if (m instanceof BatchNorm2d) m.training = false;
    return this;
  }

  /** Computes both branches of every block and mixes them: decisions [B, L], 0/1 (gradients flow to them). */
  forward(x: Tensor, decisions: Tensor): Tensor {
    this.checkDecisions(x, decisions);
    let h = this.net.stem(x);
    for (let l = 0; l < this.numBlocks; l++) {
      const m = decisions.select(1, l).view(-1, 1, 1, 1);
      const frozen = this.frozen.at(l).forward(h);
      const tuned = this.net.blocks[l].forward(h);
      h = torch.spotTuneMix(frozen, tuned, m);
    }
    return this.net.head(h);
  }

  /**
   * Inference with hard decisions: each block runs only the branch an image chose, on the
   * images that chose it. Same outputs as forward() in evaluation mode (batch norm then uses
   * running statistics, so images do not affect each other), less compute.
   */
  routedForward(x: Tensor, decisions: Tensor): Tensor {
    if (this.training) throw new Error('routedForward needs evaluation mode (call eval()): in training, batch norm mixes images');
    this.checkDecisions(x, decisions);
    return torch.noGrad(() => {
      let h = this.net.stem(x);
      const batch = x.shape[0];
      for (let l = 0; l < this.numBlocks; l++) {
        const chose = decisions.select(1, l).gt(0.5);
        const tunedIdx = torch.nonzero(chose).flatten();
        const n = tunedIdx.shape[0];
        if (n === batch) h = this.net.blocks[l].forward(h);
        else if (n === 0) h = this.frozen.at(l).forward(h);
        else {
          // Images are gathered and scattered whole in the [N, H, W, C] view: activations are
          // channels-last, so each image is contiguous there and the sub-batches stay
          // channels-last (gathering in NCHW order made strided copies and NCHW sub-batches).
          const frozenIdx = torch.nonzero(torch.logicalNot(chose)).flatten();
          const hv = h.permute([0, 2, 3, 1]);
          const tuned = this.net.blocks[l].forward(hv.indexSelect(0, tunedIdx).permute([0, 3, 1, 2]));
          const frozen = this.frozen.at(l).forward(hv.indexSelect(0, frozenIdx).permute([0, 3, 1, 2]));
          const [, c, height, width] = tuned.shape;
          const out = torch.empty([batch, height, width, c], { dtype: tuned.dtype, device: tuned.device });
          torch.indexCopy_(out, 0, tunedIdx, tuned.permute([0, 2, 3, 1]));
          torch.indexCopy_(out, 0, frozenIdx, frozen.permute([0, 2, 3, 1]));
          h = out.permute([0, 3, 1, 2]);
        }
      }
      return this.net.head(h);
    });
  }

  private checkDecisions(x: Tensor, d: Tensor): void {
    if (d.ndim !== 2 || d.shape[0] !== x.shape[0] || d.shape[1] !== this.numBlocks) {
      throw new Error(`TwoBranchNet: decisions must have shape [${x.shape[0]}, ${this.numBlocks}], got [${d.shape.join(', ')}]`);
    }
  }
}
