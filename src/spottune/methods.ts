// Every method of the paper's Table 2 (and training from scratch, as a floor), by name, each
// with its options (src/spottune/options.ts) and how it builds the model the engine trains.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module, Parameter } from '../nn/index.js';
import type { Backbone } from '../models/index.js';
import { Rng } from '../util/rng.js';
import { PlainModel } from './plain_model.js';
import { spotTuneModel } from './spottune_model.js';
import type { Method, OptionRecord, StrategyContext, TrainModel } from './method.js';
import { BSS_OPTIONS, CO_TUNING_OPTIONS, DELTA_OPTIONS, GLOBAL_K_OPTIONS, L2SP_OPTIONS, SPOTTUNE_OPTIONS, TWO_BRANCH_OPTIONS, type EvalRouting } from './options.js';
import { bssModel } from './bss.js';
import { coTuningModel } from './co_tuning.js';
import { DeltaModel } from './delta.js';
import { ProgressiveModel, ProgressiveNet } from './progressive.js';
import { defaultsOf, type OptionValues } from '../util/options.js';

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
function l2sp(ctx: StrategyContext, o: OptionValues<typeof L2SP_OPTIONS>): TrainModel {
  const net = ctx.pretrained();
  const { l2spAlpha: alpha, l2spBeta: beta, l2spScope: scope } = o;
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

/** Declares a method (the helper only ties the build function's options to the declared ones). */
function method<R extends OptionRecord>(m: Method<R>): Method<R> {
  return m;
}

const NONE = {};

const methods: Method<any>[] = [
  method({ name: 'scratch', summary: 'train from random initialisation (a floor)', options: NONE, build: (ctx) => new PlainModel(ctx.scratch(), { frozen: [] }) }),
  method({ name: 'feature-extractor', summary: 'freeze the whole backbone, train a new linear classifier', options: NONE, build: (ctx) => { const net = ctx.pretrained(); return new PlainModel(net, { frozen: backboneParts(net) }); } }),
  method({ name: 'finetune', summary: 'standard fine-tuning of every parameter', options: NONE, build: (ctx) => new PlainModel(ctx.pretrained(), { frozen: [] }) }),
  method({
    name: 'stochastic',
    summary: 'fine-tune a random half of the blocks (seeded), freeze the rest',
    options: NONE,
    build: (ctx) => {
      const net = ctx.pretrained();
      const chosen = new Rng(ctx.seed).permutation(net.blocks.length).subarray(0, Math.floor(net.blocks.length / 2));
      return blockSubset(net, net.blocks.map((_, i) => chosen.includes(i)));
    },
  }),
  ...[1, 2, 3].map((k) => method({
    name: `last-${k}`,
    summary: `fine-tune only the last ${k} block${k > 1 ? 's' : ''} and the classifier`,
    options: NONE,
    build: (ctx) => { const net = ctx.pretrained(); return blockSubset(net, net.blocks.map((_, i) => i >= net.blocks.length - k)); },
  })),
  method({ name: 'random-policy', summary: 'two branches; last three blocks always fine-tuned, a coin flip per image for the others', options: TWO_BRANCH_OPTIONS, build: (ctx, o) => spotTuneModel(ctx, o, 'random') }),
  method({ name: 'finetune-deeper', summary: 'standard fine-tuning of a deeper network (--deeper-arch, --deeper-weights)', options: NONE, build: (ctx) => new PlainModel(ctx.deeper(), { frozen: [] }) }),
  method({ name: 'l2sp', summary: 'fine-tuning with the L2-SP penalty toward the pre-trained weights', paper: 'Li, Grandvalet, Davoine, Explicit Inductive Bias for Transfer Learning with Convolutional Networks, ICML 2018', options: L2SP_OPTIONS, build: l2sp }),
  method({
    name: 'progressive',
    summary: 'Progressive Neural Networks: the pre-trained network as a frozen column, a new random column with 1×1 laterals from it',
    paper: 'Rusu et al., Progressive Neural Networks, arXiv:1606.04671, 2016',
    options: NONE,
    build: (ctx) => new ProgressiveModel(new ProgressiveNet(ctx.scratch(), ctx.pretrained())),
  }),
  method({
    name: 'delta',
    summary: 'DELTA: fine-tuning that keeps the stage feature maps near the source network\'s, weighted by channel attention',
    paper: 'Li et al., DELTA: DEep Learning Transfer using Feature Map with Attention for Convolutional Networks, ICLR 2019',
    options: DELTA_OPTIONS,
    build: (ctx, o) => new DeltaModel(ctx.pretrained(), ctx.pretrained(), {
      alpha: o.deltaAlpha, beta: o.deltaBeta, alphaSp: o.deltaAlphaSp, attentionEpochs: o.deltaAttentionEpochs, attentionLr: o.deltaAttentionLr, attentionBatches: o.deltaAttentionBatches,
    }),
  }),
  method({
    name: 'bss',
    summary: 'Batch Spectral Shrinkage: fine-tuning that penalises the smallest singular values of each batch\'s features',
    paper: 'Chen et al., Catastrophic Forgetting Meets Negative Transfer: Batch Spectral Shrinkage for Safe Transfer Learning, NeurIPS 2019',
    options: BSS_OPTIONS,
    build: (ctx, o) => bssModel(ctx.pretrained(), { k: o.bssK, eta: o.bssEta }),
  }),
  method({
    name: 'co-tuning',
    summary: 'Co-Tuning: fine-tuning that also trains the source classifier toward the source-class relationship of each target label',
    paper: 'You et al., Co-Tuning for Transfer Learning, NeurIPS 2020',
    options: CO_TUNING_OPTIONS,
    build: (ctx, o) => coTuningModel(ctx.pretrained(), ctx.source(), { lambda: o.coTuningLambda }),
  }),
  method({ name: 'spottune', summary: 'SpotTune: a policy network picks, per image and block, fine-tuned or frozen', options: SPOTTUNE_OPTIONS, build: (ctx, o) => spotTuneModel(ctx, o, 'agent') }),
  method({ name: 'spottune-global-k', summary: 'SpotTune with the Global-k loss (fine-tune k blocks on average)', options: GLOBAL_K_OPTIONS, build: (ctx, o) => spotTuneModel(ctx, o, 'agent') }),
  method({
    name: 'spottune-finetuned',
    summary: 'SpotTune trained, evaluated running only the fine-tuned blocks',
    options: { ...SPOTTUNE_OPTIONS, evalRouting: { ...SPOTTUNE_OPTIONS.evalRouting, default: 'finetuned' as const } },
    build: (ctx, o) => spotTuneModel(ctx, o, 'agent'),
  }),
];

export const METHODS = methods.map((m) => m.name);

export function getMethod(name: string): Method {
  const m = methods.find((x) => x.name === name);
  if (!m) throw new Error(`unknown method "${name}"; expected one of ${METHODS.join(', ')}`);
  return m;
}

/** Builds a method's model; options not given take the method's defaults. */
export function buildMethod(name: string, ctx: StrategyContext, options: Record<string, unknown> = {}): TrainModel {
  const m = getMethod(name);
  return m.build(ctx, { ...defaultsOf(m.options), ...options });
}

export function listMethods(): readonly Method[] {
  return methods;
}

/**
 * The one rule for a run's routing at evaluation: `override` (a --routing flag), else the run's
 * evalRouting option (whose default is the method's). Single-network methods have no routing
 * (undefined); a --routing for them is an error.
 */
export function evalRoutingOf(config: { method: string; evalRouting?: EvalRouting }, override?: EvalRouting): EvalRouting | undefined {
  const declared = 'evalRouting' in getMethod(config.method).options;
  if (!declared) {
    if (override) throw new Error(`--routing ${override}: method ${config.method} trains one network, which has no routing (only two-branch methods do)`);
    return undefined;
  }
  return override ?? config.evalRouting;
}
