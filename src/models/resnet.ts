// torchvision's ResNet-18/34/50/101/152, with torchvision's module names and initialisation,
// so `torch.save(torchvision.models.resnet50().state_dict())` loads unchanged (strictly).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, Module, Sequential, init } from '../nn/index.js';
import { ResNetBase, type ResidualBlock } from './backbone.js';

const conv3x3 = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });
const conv1x1 = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 1, { stride, bias: false });

export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | undefined;

  constructor(inplanes: number, planes: number, stride = 1, downsample?: Sequential) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inplanes, planes, stride));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(this.bn1.forward(this.conv1.forward(x)).relu_()));
    return out.add_(this.downsample ? this.downsample.forward(x) : x).relu_();
  }
}

export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | undefined;

  constructor(inplanes: number, planes: number, stride = 1, downsample?: Sequential) {
    super();
    this.conv1 = this.registerModule('conv1', conv1x1(inplanes, planes));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, stride));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', conv1x1(planes, planes * Bottleneck.expansion));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * Bottleneck.expansion));
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    let out = this.bn1.forward(this.conv1.forward(x)).relu_();
    out = this.bn2.forward(this.conv2.forward(out)).relu_();
    out = this.bn3.forward(this.conv3.forward(out));
    return out.add_(this.downsample ? this.downsample.forward(x) : x).relu_();
  }
}

type BlockType = typeof BasicBlock | typeof Bottleneck;

export interface ResNetOptions {
  numClasses?: number;
  inChannels?: number;
}

export class ResNet extends ResNetBase {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool: MaxPool2d;
  readonly layers: Sequential<ResidualBlock>[];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly blocks: ResidualBlock[];
  private inplanes = 64;

  constructor(block: BlockType, layers: [number, number, number, number], o: ResNetOptions = {}) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(o.inChannels ?? 3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(64));
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.layers = [64, 128, 256, 512].map((planes, i) => this.registerModule(`layer${i + 1}`, this.makeLayer(block, planes, layers[i], i === 0 ? 1 : 2)));
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerModule('fc', new Linear(512 * block.expansion, o.numClasses ?? 1000));
    this.blocks = this.layers.flatMap((l) => [...l]);
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
    }
    this.toChannelsLast();
  }

  private makeLayer(block: BlockType, planes: number, count: number, stride: number): Sequential<ResidualBlock> {
    const out = planes * block.expansion;
    const downsample = stride !== 1 || this.inplanes !== out ? new Sequential<Module<[Tensor], Tensor>>(conv1x1(this.inplanes, out, stride), new BatchNorm2d(out)) : undefined;
    const layer = new Sequential<ResidualBlock>(new block(this.inplanes, planes, stride, downsample));
    this.inplanes = out;
    for (let i = 1; i < count; i++) layer.append(new block(this.inplanes, planes));
    return layer;
  }

  stem(x: Tensor): Tensor {
    // Channels-last from here on: the layout the convolution kernels work in without reordering.
    return this.maxpool.forward(this.bn1.forward(this.conv1.forward(x.contiguous(torch.memoryFormat.channelsLast))).relu_());
  }

  features(x: Tensor): Tensor {
    return torch.flatten(this.avgpool.forward(x), 1);
  }
}

export const resnet18 = (o?: ResNetOptions) => new ResNet(BasicBlock, [2, 2, 2, 2], o);
export const resnet34 = (o?: ResNetOptions) => new ResNet(BasicBlock, [3, 4, 6, 3], o);
export const resnet50 = (o?: ResNetOptions) => new ResNet(Bottleneck, [3, 4, 6, 3], o);
export const resnet101 = (o?: ResNetOptions) => new ResNet(Bottleneck, [3, 4, 23, 3], o);
export const resnet152 = (o?: ResNetOptions) => new ResNet(Bottleneck, [3, 8, 36, 3], o);
