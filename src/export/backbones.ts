// The models of src/models as ONNX subgraphs: each residual block, each backbone's stem and
// head, and the policy network. They mirror the forward() methods line by line; a model
// of another class is refused by name rather than guessed at.
import { BatchNorm2d, Conv2d, type AnyModule, type Sequential } from '../nn/index.js';
import { Agent, BasicBlock, Bottleneck, RebuffiBlock, ResNet, RebuffiResNet, type Backbone, type ResidualBlock } from '../models/index.js';
import type { ProgressiveNet } from '../spottune/index.js';
import { add, batchNorm, conv, flatten, globalAvgPool, linear, maxPool, relu, type Emitter } from './layers.js';

const unsupported = (what: string, m: AnyModule) => new Error(`ONNX export: ${what} ${m.constructor.name} is not supported (expected the models of src/models)`);

/** torchvision's downsample: Sequential(conv1x1, BatchNorm2d), folded into one Conv. */
function downsample(e: Emitter, d: Sequential, x: string): string {
  const [c, bn] = [...d];
  if (d.length !== 2 || !(c instanceof Conv2d) || !(bn instanceof BatchNorm2d)) throw new Error(`ONNX export: ${e.name(d)} is not Sequential(Conv2d, BatchNorm2d)`);
  return conv(e, c, bn, x);
}

/** Rebuffi's parameter-free shortcut: AvgPool2d(2, ceil_mode) (divisor: the window's pixels inside the image), then zero channels. */
function padShortcut(e: Emitter, b: RebuffiBlock, x: string): string {
  const name = `${e.name(b)}.shortcut`;
  const pooled = e.g.node('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil_mode: 1, count_include_pad: 0 }, `${name}.pool`);
  const extra = b.planes - b.inplanes;
  if (extra < 0) throw new Error(`ONNX export: ${e.name(b)} narrows ${b.inplanes} to ${b.planes} channels; the shortcut only pads`);
  if (extra === 0) return pooled;
  // pads: begin of N, C, H, W, then end of N, C, H, W.
  return e.g.node('Pad', [pooled, e.g.int64(`${name}.pads`, [0, 0, 0, 0, 0, extra, 0, 0])], { mode: 'constant' }, `${name}.pad`);
}

export function block(e: Emitter, b: ResidualBlock, x: string): string {
  const name = e.name(b);
  let out: string;
  let shortcut = x;
  if (b instanceof BasicBlock) {
    out = conv(e, b.conv2, b.bn2, relu(e, conv(e, b.conv1, b.bn1, x), `${name}.relu1`));
    if (b.downsample) shortcut = downsample(e, b.downsample, x);
  } else if (b instanceof Bottleneck) {
    out = relu(e, conv(e, b.conv1, b.bn1, x), `${name}.relu1`);
    out = relu(e, conv(e, b.conv2, b.bn2, out), `${name}.relu2`);
    out = conv(e, b.conv3, b.bn3, out);
    if (b.downsample) shortcut = downsample(e, b.downsample, x);
  } else if (b instanceof RebuffiBlock) {
    out = conv(e, b.conv2, b.bn2, relu(e, conv(e, b.conv1, b.bn1, x), `${name}.relu1`));
    if (b.reshapes) shortcut = padShortcut(e, b, x);
  } else {
    throw unsupported('residual block', b);
  }
  return relu(e, add(e, out, shortcut, `${name}.add`), `${name}.relu`);
}

export function stem(e: Emitter, net: Backbone, x: string): string {
  if (net instanceof ResNet) return maxPool(e, net.maxpool, relu(e, conv(e, net.conv1, net.bn1, x), `${e.name(net.conv1)}.relu`));
  if (net instanceof RebuffiResNet) return conv(e, net.conv1, net.bn1, x);
  throw unsupported('backbone', net);
}

export function head(e: Emitter, net: Backbone, x: string): string {
  if (net instanceof ResNet) return linear(e, net.fc, flatten(e, globalAvgPool(e, net.avgpool, x), `${e.name(net.avgpool)}.flatten`));
  if (net instanceof RebuffiResNet) {
    const h = relu(e, batchNorm(e, net.bn2, x), `${e.name(net.bn2)}.relu`);
    return linear(e, net.fc, flatten(e, globalAvgPool(e, net.avgpool, h), `${e.name(net.avgpool)}.flatten`));
  }
  throw unsupported('backbone', net);
}

/** head(blocks(stem(x))). */
export function backbone(e: Emitter, net: Backbone, x: string): string {
  let h = stem(e, net, x);
  for (const b of net.blocks) h = block(e, b, h);
  return head(e, net, h);
}

/**
 * The policy network: logits [B, L, 2]. When it has its own input size and the images are
 * another size, they are first resized bilinearly (align_corners false, no antialiasing:
 * ONNX Resize "pytorch_half_pixel", the same sampling as torch.nn.functional.interpolate).
 */
export function agent(e: Emitter, a: Agent, x: string, inputShape: readonly number[]): string {
  const name = e.name(a);
  const s = a.inputSize;
  let input = x;
  if (s && (inputShape[1] !== s || inputShape[2] !== s)) {
    const batch = e.g.node('Slice', [e.g.node('Shape', [x], {}, `${name}.resize.shape`), e.g.int64(`${name}.resize.start`, [0]), e.g.int64(`${name}.resize.end`, [1])], {}, `${name}.resize.batch`);
    const sizes = e.g.node('Concat', [batch, e.g.int64(`${name}.resize.chw`, [inputShape[0], s, s])], { axis: 0 }, `${name}.resize.sizes`);
    input = e.g.node('Resize', [x, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }, `${name}.resize`);
  }
  return e.g.node('Reshape', [backbone(e, a, input), e.g.int64(`${name}.shape`, [-1, a.numBlocks, 2])], {}, `${name}.logits`);
}

/**
 * Progressive Neural Networks: the frozen column's stem and blocks, and the new column whose
 * block l (and head) adds the lateral 1×1 convolution of the frozen column's activation before it.
 */
export function progressive(e: Emitter, net: ProgressiveNet, x: string): string {
  const frozen = net.frozen.net;
  const g = [stem(e, frozen, x)];
  for (const b of frozen.blocks) g.push(block(e, b, g[g.length - 1]));
  const lateral = (l: number, h: string) => {
    const u = net.laterals.at(l);
    return add(e, h, conv(e, u, undefined, g[l]), `${e.name(u)}.add`);
  };
  let h = stem(e, net.column, x);
  for (let l = 0; l < net.numBlocks; l++) h = block(e, net.column.blocks[l], lateral(l, h));
  return head(e, net.column, lateral(net.numBlocks, h));
}
