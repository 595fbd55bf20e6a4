// Models by name: torchvision's ResNets, Rebuffi's ResNet-26 family, the policy network.
import { resnet18, resnet34, resnet50, resnet101, resnet152 } from './resnet.js';
import { resnet26, resnet38 } from './rebuffi.js';
import type { Backbone } from './backbone.js';

export { type Backbone, type ResidualBlock, backboneForward, backboneLayers, blockOutChannels } from './backbone.js';
export { ResNet, BasicBlock, Bottleneck, resnet18, resnet34, resnet50, resnet101, resnet152, type ResNetOptions } from './resnet.js';
export { RebuffiResNet, RebuffiBlock, resnet26, resnet38, type RebuffiResNetOptions } from './rebuffi.js';
export { Agent, type AgentOptions } from './agent.js';

export interface ArchOptions {
  numClasses?: number;
  inChannels?: number;
  /** Channel multiplier, for the ResNet-26 family only. */
  width?: number;
}

const archs: Record<string, (o: ArchOptions) => Backbone> = {
  resnet18: (o) => resnet18(o),
  resnet34: (o) => resnet34(o),
  resnet50: (o) => resnet50(o),
  resnet101: (o) => resnet101(o),
  resnet152: (o) => resnet152(o),
  resnet26: (o) => resnet26(o),
  resnet38: (o) => resnet38(o),
};

export const ARCHS = Object.keys(archs);

/** A randomly initialised backbone by name (see ARCHS). */
export function createBackbone(arch: string, o: ArchOptions = {}): Backbone {
  const make = archs[arch];
  if (!make) throw new Error(`unknown architecture "${arch}"; expected one of ${ARCHS.join(', ')}`);
  if (o.width !== undefined && !arch.startsWith('resnet26') && !arch.startsWith('resnet38')) {
    throw new Error(`--width applies to resnet26/resnet38 only, not ${arch}`);
  }
  return make(o);
}
