// DELTA (Li et al., "DELTA: DEep Learning Transfer using Feature Map with Attention for
// Convolutional Networks", ICLR 2019): fine-tuning regularised toward the source network's
// behaviour rather than its weights. For each stage's output feature map FM_i [B, C, H, W],
//   Ω = α · Σ_i ½ Σ_{b,c} C·a_{i,c}·‖FM_i(w, x)_{b,c} − FM_i(w⁰, x)_{b,c}‖² / (H·W)
//     + β · ½‖w_head‖²  + α_sp · ½‖w − w⁰‖² (L2-SP on the backbone; off by default)
// where w⁰ is the frozen pre-trained network (run on the same batch, evaluation mode) and
// a_i the channel attention of layer i: before training, a new linear classifier is trained
// on the frozen source features, then, for each channel c, Δ_c = the classifier's loss with
// channel c of FM_i zeroed minus the loss without, averaged over batches;
// a_i = softmax(standardise(Δ) / 5). Formula, constants and procedure follow TLlib
// (tllib/regularization/delta.py, AttentionBehavioralRegularization; examples/task_adaptation/
// image_classification/delta.py, calculate_channel_attention): α = β = 0.01 (--trade-off-
// backbone, --trade-off-head), weight decay 0 (--wd), attention classifier trained 10 epochs
// (--attention-epochs) with SGD, momentum 0.9, Nesterov, lr decaying ×0.1 every 6 epochs
// exponentially (--attention-lr-decay-epochs; lr 0.01, TLlib's --lr), then Δ over at most 10
// batches (--attention-iteration-limit), temperature 5. Two differences, both where TLlib's
// choice is tied to its model zoo: the feature maps are the stage outputs (the last block's
// output of each stage; TLlib hooks the last block's last convolution of each ResNet-50 stage,
// before its batch norm and the shortcut) and a channel is removed by zeroing it in that map
// (TLlib zeroes that convolution's filter); the attention classifier is trained on frozen
// features, as TLlib's code intends (`backbone.requires_grad = False`, which on a torch
// Module sets an attribute and freezes nothing).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Linear, type Parameter } from '../nn/index.js';
import { SGD } from '../optim/index.js';
import { RebuffiResNet, ResNet, blockOutChannels, type Backbone } from '../models/index.js';
import { PlainModel } from './plain_model.js';
import type { FeatureOutput, TrainingSet } from './method.js';

export interface DeltaOptions {
  /** α: weight of the attention-weighted feature-map distance. */
  alpha: number;
  /** β: weight of ½‖w‖² on the new classifier. */
  beta: number;
  /** Weight of ½‖w − w⁰‖² on the backbone (L2-SP); 0 in DELTA and TLlib. */
  alphaSp: number;
  /** Epochs of the linear classifier that the channel attention is measured with. */
  attentionEpochs: number;
  /** Its learning rate (decays ×0.1 every 6 epochs). */
  attentionLr: number;
  /** Batches over which each channel's loss increase is averaged. */
  attentionBatches: number;
}

export const defaultDeltaOptions: DeltaOptions = { alpha: 0.01, beta: 0.01, alphaSp: 0, attentionEpochs: 10, attentionLr: 0.01, attentionBatches: 10 };

/** TLlib's softmax temperature over the standardised loss increases. */
const ATTENTION_TEMPERATURE = 5;
/** TLlib's attention learning rate falls ×0.1 over this many epochs (ExponentialLR). */
const ATTENTION_LR_DECAY_EPOCHS = 6;

/** Index of the last block of each stage (layer1, layer2, ...). */
export function stageEnds(net: Backbone): number[] {
  if (!(net instanceof ResNet || net instanceof RebuffiResNet)) throw new Error(`DELTA: a ${net.constructor.name} has no stages it knows (expected the ResNets of src/models)`);
  const ends: number[] = [];
  let n = 0;
  for (const layer of net.layers) ends.push((n += layer.length) - 1);
  return ends;
}

/**
 * Σ_i ½ Σ_{b,c} C_i·a_i[c]·‖t_i[b,c] − s_i[b,c]‖² / (H_i·W_i) over feature maps [B, C, H, W]
 * (AttentionBehavioralRegularization: summed over the batch, not averaged).
 */
export function attentionFeatureDistance(target: Tensor[], source: Tensor[], attention: Tensor[]): Tensor {
  let total = torch.zeros([], { device: target[0].device });
  target.forEach((t, i) => {
    const [, c, h, w] = t.shape;
    const perChannel = t.sub(source[i].detach()).square().sum([2, 3]); // [B, C]
    total = total.add(perChannel.mul(attention[i]).sum().mul((0.5 * c) / (h * w)));
  });
  return total;
}

/** softmax(standardise(Δ) / 5), the population standard deviation as numpy's std. */
export function channelAttention(lossIncrease: Float64Array): Tensor {
  const n = lossIncrease.length;
  const mean = lossIncrease.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(lossIncrease.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
  const z = Float32Array.from(lossIncrease, (v) => (std > 0 ? (v - mean) / std : 0) / ATTENTION_TEMPERATURE);
  return torch.softmax(torch.tensor(z), 0);
}

/** Stem and blocks; the outputs of the blocks at `ends` and the last hidden state. */
function stageMaps(net: Backbone, ends: number[], x: Tensor): { maps: Tensor[]; h: Tensor } {
  let h = net.stem(x);
  const maps: Tensor[] = [];
  net.blocks.forEach((b, l) => {
    h = b.forward(h);
    if (ends.includes(l)) maps.push(h);
  });
  return { maps, h };
}

export interface DeltaOutput extends FeatureOutput {
  /** The fine-tuned network's stage outputs and the source network's on the same batch. */
  maps: Tensor[];
  sourceMaps: Tensor[];
}

export class DeltaModel extends PlainModel {
  private readonly ends: number[];
  /** Per stage, the channel attention [C]: buffers of the network, so checkpoints hold them. */
  private readonly attention: Tensor[];
  /** L2-SP's anchors (α_sp > 0 only). */
  private readonly anchored: [Parameter, Tensor][];

  /**
   * `net` is fine-tuned; `source` holds the same pre-trained weights and stays frozen in
   * evaluation mode (not saved: a resumed run rebuilds it from --weights).
   */
  constructor(net: Backbone, private readonly source: Backbone, private readonly d: DeltaOptions) {
    super(net, { frozen: [], weightDecay: 0 });
    const head = new Set(net.fc.parameters());
    this.anchored = d.alphaSp > 0
      ? torch.noGrad(() => net.namedParameters().filter(([, p]) => !head.has(p)).map(([, p]): [Parameter, Tensor] => [p, torch.keep(p.detach().clone())]))
      : [];
    this.ends = stageEnds(net);
    source.freeze();
    source.eval();
    this.attention = this.ends.map((l, i) => {
      const c = blockOutChannels(net.blocks[l]);
      return net.registerBuffer(`deltaAttention${i}`, torch.full([c], 1 / c));
    });
  }

  override forwardTrain(x: Tensor): DeltaOutput {
    const net = this.module;
    const { maps, h } = stageMaps(net, this.ends, x);
    const features = net.features(h);
    const sourceMaps = torch.noGrad(() => stageMaps(this.source, this.ends, x).maps);
    return { logits: net.fc.forward(features), decisions: this.decisions(x), features, maps, sourceMaps };
  }

  override regularizer(out: DeltaOutput): Tensor {
    const device = out.logits.device;
    let head = torch.zeros([], { device });
    for (const p of this.module.fc.parameters()) head = head.add(p.square().sum());
    let total = attentionFeatureDistance(out.maps, out.sourceMaps, this.attention).mul(this.d.alpha).add(head.mul(this.d.beta / 2));
    if (this.anchored.length) {
      let sp = torch.zeros([], { device });
      for (const [p, p0] of this.anchored) sp = sp.add(p.sub(p0).square().sum());
      total = total.add(sp.mul(this.d.alphaSp / 2));
    }
    return total;
  }

  /** The channel attention, measured on the frozen source network (see the top of this file). */
  async prepare(data: TrainingSet): Promise<void> {
    const src = this.source;
    const classifier = new Linear((src.fc as Linear).inFeatures, data.numClasses);
    const opt = new SGD(classifier.parameters(), { lr: this.d.attentionLr, momentum: 0.9, nesterov: true });
    const gamma = Math.exp(Math.log(0.1) / ATTENTION_LR_DECAY_EPOCHS);
    // The frozen network's part is the same in every step: only the classifier learns.
    const run = (x: Tensor) => torch.noGrad(() => stageMaps(src, this.ends, x));
    for (let epoch = 0; epoch < this.d.attentionEpochs; epoch++) {
      opt.paramGroups[0].lr = this.d.attentionLr * gamma ** epoch;
      await data.forEach((x, y) => {
        const features = torch.noGrad(() => src.features(run(x).h));
        opt.zeroGrad();
        torch.crossEntropy(classifier.forward(features), y).backward();
        opt.step();
      }, { augment: true, epoch });
    }
    const increase = this.ends.map((l) => new Float64Array(blockOutChannels(src.blocks[l])));
    let batches = 0;
    await data.forEach((x, y) => {
      torch.noGrad(() => {
        const { maps, h } = run(x);
        const lossOf = (from: number, map: Tensor) => {
          let z = map;
          for (let l = from + 1; l < src.blocks.length; l++) z = src.blocks[l].forward(z);
          return torch.crossEntropy(classifier.forward(src.features(z)), y).item();
        };
        const base = torch.crossEntropy(classifier.forward(src.features(h)), y).item();
        this.ends.forEach((end, i) => {
          const C = increase[i].length;
          for (let c = 0; c < C; c++) {
            const mask = torch.ones([1, C, 1, 1], { device: x.device });
            torch.noGrad(() => mask.select(1, c).fill_(0));
            // The running mean of TLlib's loop, one batch at a time.
            increase[i][c] += (lossOf(end, maps[i].mul(mask)) - base - increase[i][c]) / (batches + 1);
          }
        });
      });
      batches++;
    }, { augment: true, epoch: this.d.attentionEpochs, limit: this.d.attentionBatches });
    torch.tidy(() => torch.noGrad(() => increase.forEach((d, i) => this.attention[i].copy_(channelAttention(d)))));
    opt.dispose();
    classifier.dispose();
  }

  override dispose(): void {
    torch.dispose(this.anchored.map(([, p0]) => p0));
    this.source.dispose();
    super.dispose();
  }
}
