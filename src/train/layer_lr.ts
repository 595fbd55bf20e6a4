// Per-layer learning rates of the network (the policy network keeps --lr-agent):
// --lr-backbone x: every layer below the head at x, the head at --lr (TLlib: x = 0.1·lr);
// --layer-decay d: layer j of the stem, blocks 1..L and head gets its rate × d^(L + 1 − j), so
// the head keeps its rate, the last block d, the stem d^(L+1) (timm's layer-wise decay).
// Both together: stem and blocks at x·d^depth.
import type { Parameter } from '../nn/index.js';

export interface LayerLrOptions {
  lr: number;
  lrBackbone?: number;
  layerDecay?: number;
}

export interface LayerGroup {
  params: Parameter[];
  lr: number;
  /** 0 for the head, L + 1 for the stem. */
  depth: number;
}

/**
 * The optimizer groups of the network's trainable parameters, head first (its rate is the run's
 * --lr, reported as `lr`). Without either option, one group at --lr. `layers` is
 * TrainModel.layers(): stem, blocks, head.
 */
export function layerGroups(layers: Parameter[][], trainable: Parameter[], o: LayerLrOptions): LayerGroup[] {
  if (o.lrBackbone === undefined && o.layerDecay === undefined) return [{ params: trainable, lr: o.lr, depth: 0 }];
  const depthOf = new Map<Parameter, number>();
  layers.forEach((layer, j) => layer.forEach((p) => depthOf.set(p, layers.length - 1 - j)));
  const byDepth = new Map<number, Parameter[]>();
  for (const p of trainable) {
    const depth = depthOf.get(p);
    if (depth === undefined) throw new Error('per-layer learning rates: a trained parameter lies outside the stem, blocks and head of the network');
    if (!byDepth.has(depth)) byDepth.set(depth, []);
    byDepth.get(depth)!.push(p);
  }
  const decay = o.layerDecay ?? 1;
  return [...byDepth.keys()].sort((a, b) => a - b).map((depth) => ({
    params: byDepth.get(depth)!,
    lr: (depth === 0 ? o.lr : (o.lrBackbone ?? o.lr)) * decay ** depth,
    depth,
  }));
}
