// Every method of the paper's Table 2 (and training from scratch, as a floor), by name.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module, Parameter } from '../nn/index.js';
import { Agent, type Backbone } from '../models/index.js';
import { Rng } from '../util/rng.js';
import { PlainModel } from './plain_model.js';
import { SpotTuneModel } from './spottune_model.js';
import { TwoBranchNet } from './two_branch_net.js';
import type { Strategy, StrategyContext, TrainModel } from './method.js';
import { bssModel } from './bss.js';
import { coTuningModel } from './co_tuning.js';
import { DeltaModel } from './delta.js';
import { ProgressiveModel, ProgressiveNet } from './progressive.js';

/** Everything but the classifier: stem modules and blocks. */
function backboneParts(net: Backbone): Module<any[], unknown>[] {
  return net.children().filter((m) => m !== net.fc);
}

/** Stem modules (children that are neither blocks' containers nor the classifier). */
function stemParts(net: Backbone): Module<any[], unknown>[] {
  const inBlocks = new Set(net.blocks.flatMap((b) => b.modules()));
  return net.children().filter((m) => m !== net.fc && !m.modules().some((d) => inBlocks.has(d)));
}

/** Fine-tune exactly the blocks whose mask entry is true (and the classifier); freeze the rest. */
function blockSubset(net: Backbone, tuned: boolean[]): TrainModel {
  const frozen = [...stemParts(net), ...net.blocks.filter((_, i) => !tuned[i])];
  return new PlainModel(net, { frozen });
}

/** L2-SP (Li et al. 2018): α/2·‖w − w⁰‖² over the backbone, β/2·‖w‖² over the new head. */
function l2sp(ctx: StrategyContext): TrainModel {
  const net = ctx.pretrained();
  const { alpha, beta, scope } = ctx.options.l2sp;
  const head = new Set(net.fc.parameters());
  const covered = (name: string, p: Parameter) => !head.has(p) && (scope === 'all' || (name.endsWith('weight') && p.ndim > 1));
  const anchored: [Parameter, Tensor][] = torch.noGrad(() =>
    net.namedParameters().filter(([n, p]) => covered(n, p)).map(([, p]) => [p, torch.keep(p.detach().clone())]),
  );
  const regularizer = () => {
    const device = [...head][0].device; // read per call: the run may move the model after building it
    let penalty = torch.zeros([], { device });
    for (const [p, p0] of anchored) penalty = penalty.add(p.sub(p0).square().sum());
    let headPenalty = torch.zeros([], { device });
    for (const p of head) headPenalty = headPenalty.add(p.square().sum());
    return penalty.mul(alpha / 2).add(headPenalty.mul(beta / 2));
  };
  return new PlainModel(net, { frozen: [], regularizer, weightDecay: 0, onDispose: () => torch.dispose(anchored.map(([, p0]) => p0)) });
}

function spottune(ctx: StrategyContext, variant: 'plain' | 'global-k' | 'finetuned-at-test' | 'random'): TrainModel {
  const o = ctx.options;
  const net = new TwoBranchNet(ctx.pretrained(), ctx.pretrained(), { frozenBn: o.frozenBn });
  const source = variant === 'random'
    ? { kind: 'random' as const, alwaysFrom: Math.max(0, net.numBlocks - 3) }
    : { kind: 'agent' as const, agent: new Agent({ numBlocks: net.numBlocks, inChannels: ctx.inChannels, width: o.agentWidth, inputSize: o.agentInputSize }) };
  return new SpotTuneModel(net, source, {
    ...o,
    evalRouting: variant === 'finetuned-at-test' ? 'finetuned' : o.evalRouting,
    useGlobalK: variant === 'global-k',
  });
}

const strategies: Strategy[] = [
  { name: 'scratch', summary: 'train from random initialisation (a floor)', build: (ctx) => new PlainModel(ctx.scratch(), { frozen: [] }) },
  { name: 'feature-extractor', summary: 'freeze the whole backbone, train a new linear classifier', build: (ctx) => { const net = ctx.pretrained(); return new PlainModel(net, { frozen: backboneParts(net) }); } },
  { name: 'finetune', summary: 'standard fine-tuning of every parameter', build: (ctx) => new PlainModel(ctx.pretrained(), { frozen: [] }) },
  {
    name: 'stochastic',
    summary: 'fine-tune a random half of the blocks (seeded), freeze the rest',
    build: (ctx) => {
      const net = ctx.pretrained();
      const chosen = new Rng(ctx.seed).permutation(net.blocks.length).subarray(0, Math.floor(net.blocks.length / 2));
      return blockSubset(net, net.blocks.map((_, i) => chosen.includes(i)));
    },
  },
  ...[1, 2, 3].map((k) => ({
    name: `last-${k}`,
    summary: `fine-tune only the last ${k} block${k > 1 ? 's' : ''} and the classifier`,
    build: (ctx: StrategyContext) => { const net = ctx.pretrained(); return blockSubset(net, net.blocks.map((_, i) => i >= net.blocks.length - k)); },
  })),
  { name: 'random-policy', summary: 'two branches; last three blocks always fine-tuned, a coin flip per image for the others', build: (ctx) => spottune(ctx, 'random') },
  { name: 'finetune-deeper', summary: 'standard fine-tuning of a deeper network (--deeper-arch, --deeper-weights)', build: (ctx) => new PlainModel(ctx.deeper(), { frozen: [] }) },
  { name: 'l2sp', summary: 'fine-tuning with the L2-SP penalty toward the pre-trained weights', build: l2sp },
  {
    name: 'progressive',
    summary: 'Progressive Neural Networks: the pre-trained network as a frozen column, a new random column with 1×1 laterals from it',
    paper: 'Rusu et al., Progressive Neural Networks, arXiv:1606.04671, 2016',
    build: (ctx) => new ProgressiveModel(new ProgressiveNet(ctx.scratch(), ctx.pretrained())),
  },
  {
    name: 'delta',
    summary: 'DELTA: fine-tuning that keeps the stage feature maps near the source network\'s, weighted by channel attention',
    paper: 'Li et al., DELTA: DEep Learning Transfer using Feature Map with Attention for Convolutional Networks, ICLR 2019',
    build: (ctx) => new DeltaModel(ctx.pretrained(), ctx.pretrained(), ctx.options.delta),
  },
  {
    name: 'bss',
    summary: 'Batch Spectral Shrinkage: fine-tuning that penalises the smallest singular values of each batch\'s features',
    paper: 'Chen et al., Catastrophic Forgetting Meets Negative Transfer: Batch Spectral Shrinkage for Safe Transfer Learning, NeurIPS 2019',
    build: (ctx) => bssModel(ctx.pretrained(), ctx.options.bss),
  },
  {
    name: 'co-tuning',
    summary: 'Co-Tuning: fine-tuning that also trains the source classifier toward the source-class relationship of each target label',
    paper: 'You et al., Co-Tuning for Transfer Learning, NeurIPS 2020',
    build: (ctx) => coTuningModel(ctx.pretrained(), ctx.source(), ctx.options.coTuning),
  },
  { name: 'spottune', summary: 'SpotTune: a policy network picks, per image and block, fine-tuned or frozen', build: (ctx) => spottune(ctx, 'plain') },
  { name: 'spottune-global-k', summary: 'SpotTune with the Global-k loss (fine-tune k blocks on average)', build: (ctx) => spottune(ctx, 'global-k') },
  { name: 'spottune-finetuned', summary: 'SpotTune trained, evaluated running only the fine-tuned blocks', build: (ctx) => spottune(ctx, 'finetuned-at-test') },
];

export const METHODS = strategies.map((s) => s.name);

export function getStrategy(name: string): Strategy {
  const s = strategies.find((x) => x.name === name);
  if (!s) throw new Error(`unknown method "${name}"; expected one of ${METHODS.join(', ')}`);
  return s;
}

export function listStrategies(): readonly Strategy[] {
  return strategies;
}
