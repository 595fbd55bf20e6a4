// The policy ("agent") network of SpotTune's reference code: a small ResNet with one
// BasicBlock per stage (stem 3→32, widths 64/128/256, each stride 2), BN+ReLU, global
// average pool, Linear(256, 2·L). It sees the same normalised image as the main network
// and outputs, per image, two logits for each of the L blocks (index 1 = fine-tuned).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { RebuffiResNet } from './rebuffi.js';

export interface AgentOptions {
  /** Number of residual blocks L the policy decides about. */
  numBlocks: number;
  inChannels?: number;
  width?: number;
  /** Resize images to this size first (bilinear), so a 224-pixel input costs little. */
  inputSize?: number;
}

export class Agent extends RebuffiResNet {
  readonly numBlocks: number;
  readonly inputSize: number | undefined;

  constructor(o: AgentOptions) {
    super({ numClasses: 2 * o.numBlocks, inChannels: o.inChannels, width: o.width, blocksPerStage: 1 });
    this.numBlocks = o.numBlocks;
    this.inputSize = o.inputSize;
  }

  /** Policy logits log α, shape [B, L, 2]. */
  override forward(x: Tensor): Tensor {
    const s = this.inputSize;
    const input = s && (x.shape[2] !== s || x.shape[3] !== s) ? torch.interpolate(x, { size: [s, s], mode: 'bilinear' }) : x;
    return super.forward(input).view(-1, this.numBlocks, 2);
  }
}
