// Rebuffi et al.'s ResNet-26 (Visual Decathlon), the backbone of the SpotTune authors' code,
// and its family of depth 6n+2. Stem: conv3×3 3→32 + BN (no ReLU); three stages of n
// BasicBlocks, widths 64/128/256, each stage starting with stride 2; head: BN, ReLU, global
// average pool, Linear. The shortcut that changes shape has no parameters: AvgPool2d(2),
// then zero channels appended. `width` scales every channel count, for small CPU experiments.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, Module, Sequential, init } from '../nn/index.js';
import { ResNetBase, type ResidualBlock } from './backbone.js';

/**
 * Parameter-free shortcut: halve the resolution by averaging, pad channels with zeros.
 * ceil_mode makes odd sizes (28 → 14 → 7 → 4) match the strided convolution; for the even
 * sizes of the reference code it is AvgPool2d(2) exactly.
 */
function padShortcut(x: Tensor, outChannels: number): Tensor {
  const pooled = torch.avgPool2d(x, 2, 2, 0, true);
  const extra = outChannels - pooled.shape[1];
  return extra > 0 ? torch.pad(pooled, [0, 0, 0, 0, 0, extra]) : pooled;
}

export class RebuffiBlock extends Module implements ResidualBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  /** Whether the shortcut pools and pads (first block of a stage). */
  readonly reshapes: boolean;

  constructor(readonly inplanes: number, readonly planes: number, readonly stride = 1) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.reshapes = stride !== 1 || inplanes !== planes;
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu_()));
    return out.add_(this.reshapes ? padShortcut(x, this.planes) : x).relu_();
  }
}

export interface RebuffiResNetOptions {
  numClasses?: number;
  inChannels?: number;
  /** Blocks per stage: 4 gives ResNet-26, 6 ResNet-38 (depth = 6n + 2). */
  blocksPerStage?: number;
  /** Channel multiplier (1 = Rebuffi's 32/64/128/256). */
  width?: number;
}

export class RebuffiResNet extends ResNetBase {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layers: Sequential<RebuffiBlock>[];
  readonly bn2: BatchNorm2d;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly blocks: ResidualBlock[];

  constructor(o: RebuffiResNetOptions = {}) {
    super();
    const base = Math.max(1, Math.round(32 * (o.width ?? 1)));
    const n = o.blocksPerStage ?? 4;
    this.conv1 = this.registerModule('conv1', new Conv2d(o.inChannels ?? 3, base, 3, { padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(base));
    let inplanes = base;
    this.layers = [2, 4, 8].map((mult, i) => {
      const planes = base * mult;
      const layer = new Sequential<RebuffiBlock>();
      for (let b = 0; b < n; b++) {
        layer.append(new RebuffiBlock(inplanes, planes, b === 0 ? 2 : 1));
        inplanes = planes;
      }
      return this.registerModule(`layer${i + 1}`, layer);
    });
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(inplanes));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(inplanes, o.numClasses ?? 10));
    this.blocks = this.layers.flatMap((l) => [...l]);
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
    }
    this.toChannelsLast();
  }

  stem(x: Tensor): Tensor {
    // Channels-last from here on: the layout the convolution kernels work in without reordering.
    return this.bn1.forward(this.conv1.forward(x.contiguous(torch.memoryFormat.channelsLast)));
  }

  features(x: Tensor): Tensor {
    return torch.flatten(this.avgpool.forward(this.bn2.forward(x).relu_()), 1);
  }
}

export const resnet26 = (o: RebuffiResNetOptions = {}) => new RebuffiResNet({ ...o, blocksPerStage: 4 });
export const resnet38 = (o: RebuffiResNetOptions = {}) => new RebuffiResNet({ ...o, blocksPerStage: 6 });
