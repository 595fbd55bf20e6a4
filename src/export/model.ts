// A trained model (any method) as one ONNX file. Input "input" [batch, C, H, W], the
// normalised images the network sees; output "logits" [batch, classes], and for the
// two-branch models "decisions" [batch, L] (1 = the fine-tuned block ran, 0 = the frozen one).
// Progressive Neural Networks: both columns and the lateral 1×1 convolutions between them.
//
// SpotTune with argmax routing: the policy network, ArgMax over its [B, L, 2] logits, then per
// block Where(decision, fine-tuned(h), frozen(h)) — exactly frozen·(1 − d) + fine-tuned·d for
// d ∈ {0, 1}. ONNX has no cheap per-image branching, so both branches of every block run for
// every image (about twice the blocks' compute); `spottune eval` runs only the chosen one.
import { Agent } from '../models/index.js';
import type { Module } from '../nn/index.js';
import { CoTuningModel, PlainModel, ProgressiveModel, SpotTuneModel, TwoBranchNet, type EvalRouting, type TrainModel } from '../spottune/index.js';
import { agent, backbone, block, head, progressive, stem } from './backbones.js';
import { OnnxGraph, type ValueSpec } from './graph.js';
import { emitter, type Emitter } from './layers.js';

export interface ExportOptions {
  /** Shape of one input image [C, H, W] (the batch dimension is dynamic). */
  inputShape: readonly [number, number, number];
  /** Routing of a two-branch model, as in `spottune eval --routing`; ignored for single networks. */
  routing?: EvalRouting;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

export interface ExportedModel {
  bytes: Uint8Array;
  outputs: ValueSpec[];
  /** The routing the graph implements ('fixed' for single networks). */
  routing: EvalRouting | 'fixed';
}

function policyNetwork(net: TwoBranchNet): Agent | undefined {
  const a = net.namedChildren().find(([name]) => name === 'agent')?.[1];
  return a instanceof Agent ? a : undefined;
}

/** decisions [B, L] filled with `value`, for the routings that do not depend on the image. */
function constantDecisions(e: Emitter, x: string, L: number, value: 0 | 1): string {
  const g = e.g;
  const batch = g.node('Slice', [g.node('Shape', [x], {}, 'decisions.shape'), g.int64('decisions.start', [0]), g.int64('decisions.end', [1])], {}, 'decisions.batch');
  const shape = g.node('Concat', [batch, g.int64('decisions.blocks', [L])], { axis: 0 }, 'decisions.size');
  return g.node('Expand', [g.float('decisions.value', new Float32Array(L).fill(value), [1, L]), shape], {}, 'decisions.expand');
}

function spotTuneGraph(e: Emitter, net: TwoBranchNet, x: string, routing: EvalRouting, inputShape: readonly number[]): { logits: string; decisions: string } {
  const g = e.g;
  const L = net.numBlocks;
  const policy = policyNetwork(net);
  if (routing === 'sample' || routing === 'average') {
    throw new Error(`ONNX export: routing "${routing}" draws Gumbel noise at every call, so no fixed graph reproduces it; export with --routing argmax, finetuned or frozen`);
  }
  if (routing === 'argmax' && !policy) {
    throw new Error('ONNX export: this run (random-policy) has no policy network: its decisions are coin flips, which a deterministic graph cannot reproduce. '
      + 'Export with --routing finetuned (every block fine-tuned, as `spottune eval --routing finetuned`) or --routing frozen');
  }
  let h = stem(e, net.net, x);
  if (routing === 'finetuned' || routing === 'frozen') {
    const blocks = routing === 'finetuned' ? net.net.blocks : [...net.frozen];
    for (const b of blocks) h = block(e, b, h);
    return { logits: head(e, net.net, h), decisions: constantDecisions(e, x, L, routing === 'finetuned' ? 1 : 0) };
  }
  const chosen = g.node('ArgMax', [agent(e, policy as Agent, x, inputShape)], { axis: 2, keepdims: 0 }, 'policy.argmax');
  const decisions = g.node('Cast', [chosen], { to: 1 /* FLOAT */ }, 'policy.decisions');
  const tunedMask = g.node('Cast', [chosen], { to: 9 /* BOOL */ }, 'policy.mask');
  const perImage = g.int64('policy.mask.shape', [-1, 1, 1, 1]);
  for (let l = 0; l < L; l++) {
    const mask = g.node('Reshape', [g.node('Gather', [tunedMask, g.int64(`policy.block${l}`, [l], [])], { axis: 1 }, `policy.mask${l}`), perImage], {}, `policy.mask${l}.nchw`);
    const frozen = block(e, net.frozen.at(l), h);
    const tuned = block(e, net.net.blocks[l], h);
    h = g.node('Where', [mask, tuned, frozen], {}, `block${l}.route`);
  }
  return { logits: head(e, net.net, h), decisions };
}

/** Serialises a trained model's evaluation-mode forward pass as ONNX (opset 13). */
export function exportOnnx(model: TrainModel, o: ExportOptions): ExportedModel {
  const g = new OnnxGraph();
  const e = emitter(g, model.module as Module<any[], unknown>);
  const [C, H, W] = o.inputShape;
  const x = g.input('input');
  const input: ValueSpec = { name: 'input', type: 'float32', dims: ['batch', C, H, W] };
  let outputs: ValueSpec[];
  let routing: EvalRouting | 'fixed';
  if (model instanceof PlainModel) {
    g.output(backbone(e, model.module, x), 'logits');
    outputs = [{ name: 'logits', type: 'float32', dims: ['batch', model.module.numClasses] }];
    routing = 'fixed';
  } else if (model instanceof SpotTuneModel) {
    const net = model.module;
    routing = o.routing ?? 'argmax';
    const out = spotTuneGraph(e, net, x, routing, o.inputShape);
    g.output(out.logits, 'logits');
    g.output(out.decisions, 'decisions');
    outputs = [{ name: 'logits', type: 'float32', dims: ['batch', net.net.numClasses] }, { name: 'decisions', type: 'float32', dims: ['batch', net.numBlocks] }];
  } else if (model instanceof ProgressiveModel || model instanceof CoTuningModel) {
    // Co-Tuning's source classifier is a training aid: the exported network is the target one.
    const net = model instanceof ProgressiveModel ? model.module.column : model.module.net;
    g.output(model instanceof ProgressiveModel ? progressive(e, model.module, x) : backbone(e, net, x), 'logits');
    outputs = [{ name: 'logits', type: 'float32', dims: ['batch', net.numClasses] }];
    routing = 'fixed';
  } else {
    throw new Error(`ONNX export: a ${model.constructor.name} cannot be exported (expected a PlainModel, SpotTuneModel, ProgressiveModel or CoTuningModel)`);
  }
  const metadata = { ...o.metadata, routing, input: 'normalised image batch [batch, C, H, W]' };
  return { bytes: g.encode({ inputs: [input], outputs, metadata, docString: 'exported by spottune' }), outputs, routing };
}
