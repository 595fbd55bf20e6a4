// SpotTune as a TrainModel: the two-branch network plus where its decisions come from —
// the policy network (SpotTune, Global-k) or coin flips (the "random policy" baseline).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Agent, backboneLayers } from '../models/index.js';
import type { Parameter } from '../nn/index.js';
import { globalKLoss, type GlobalKOptions } from './global_k.js';
import { gumbelSoftmax, gumbelSoftmaxHard, temperature } from './gumbel.js';
import { TwoBranchNet } from './two_branch_net.js';
import type { ModelOutput, ParamGroupSpec, StrategyContext, TrainModel } from './method.js';
import type { EvalRouting, MethodOptions, TWO_BRANCH_OPTIONS } from './options.js';
import type { OptionValues } from '../util/options.js';

export type DecisionSource =
  | { kind: 'agent'; agent: Agent }
  /** Blocks from index `alwaysFrom` on always fine-tuned; the others by a fair coin per image. */
  | { kind: 'random'; alwaysFrom: number };

export interface SpotTuneModelOptions {
  /** Gumbel-softmax temperature, annealed as τ·exp(−rate·epoch) down to min when tauAnneal is set. */
  tau: number;
  tauAnneal?: { rate: number; min: number };
  /** Decisions at evaluation. */
  evalRouting: EvalRouting;
  /** Sampled routings averaged by evalRouting 'average' (default 8). */
  evalSamples?: number;
  /** Adds the Global-k loss to the training loss. */
  globalK?: GlobalKOptions;
  /** Initial bias of every block's fine-tuned logit over the frozen one (unset: the reference code's random init). */
  agentBias?: number;
  /** Epochs at the start in which both branches are mixed by the soft sample (unset or 0: none, as the reference). */
  warmupMixed?: number;
}

export class SpotTuneModel implements TrainModel {
  readonly numBlocks: number;
  /** Gumbel-softmax temperature of the current epoch. */
  tau: number;
  /** Evaluation computes only the branch each image chose (false: both branches, mixed). */
  routed = true;
  private epoch = 0;

  constructor(
    readonly module: TwoBranchNet,
    private readonly source: DecisionSource,
    private readonly o: SpotTuneModelOptions,
  ) {
    this.numBlocks = module.numBlocks;
    this.tau = o.tau;
    if (source.kind === 'agent') {
      module.registerModule('agent', source.agent);
      if (o.agentBias !== undefined) setPolicyBias(source.agent, o.agentBias);
    }
  }

  startEpoch(epoch: number): void {
    this.epoch = epoch;
    this.tau = temperature(epoch, this.o.tau, this.o.tauAnneal);
  }

  setTraining(on: boolean): void {
    this.module.train(on);
  }

  /** Policy logits [B, L, 2] of the agent. */
  policyLogits(x: Tensor): Tensor {
    if (this.source.kind !== 'agent') throw new Error('this model has no policy network');
    return this.source.agent.forward(x);
  }

  private randomDecisions(batch: number, device: string): Tensor {
    const { alwaysFrom } = this.source as { alwaysFrom: number };
    const coins = torch.bernoulli(torch.empty([batch, alwaysFrom], { device }), 0.5);
    return torch.cat([coins, torch.ones([batch, this.numBlocks - alwaysFrom], { device })], 1);
  }

  /** `uniform`: the Gumbel noise's uniform draws [B, L, 2], to reproduce a sample (fresh ones if absent). */
  forwardTrain(x: Tensor, uniform?: Tensor): ModelOutput {
    if (this.source.kind !== 'agent') {
      const decisions = this.randomDecisions(x.shape[0], x.device);
      return { logits: this.module.forward(x, decisions), decisions };
    }
    const policyLogits = this.policyLogits(x);
    // Warm-up: both branches mixed by the soft sample; then routed by the hard one.
    const mixed = this.epoch < (this.o.warmupMixed ?? 0);
    const decisions = (mixed ? gumbelSoftmax(policyLogits, this.tau, uniform) : gumbelSoftmaxHard(policyLogits, this.tau, uniform)).select(2, 1);
    return { logits: this.module.forward(x, decisions), decisions, policyLogits };
  }

  /** Decisions at evaluation, by the routing option. */
  evalDecisions(x: Tensor, routing: EvalRouting = this.o.evalRouting, uniform?: Tensor): Tensor {
    return torch.noGrad(() => {
      const batch = x.shape[0];
      if (routing === 'finetuned') return torch.ones([batch, this.numBlocks], { device: x.device });
      if (routing === 'frozen') return torch.zeros([batch, this.numBlocks], { device: x.device });
      if (this.source.kind === 'random') return this.randomDecisions(batch, x.device);
      const logits = this.policyLogits(x);
      if (routing === 'sample' || routing === 'average') return gumbelSoftmaxHard(logits, this.tau, routing === 'sample' ? uniform : undefined).select(2, 1);
      return logits.argmax(2).float();
    });
  }

  /** `uniform`: the draws behind a 'sample' routing's noise, to reproduce it. */
  forwardEval(x: Tensor, routing: EvalRouting = this.o.evalRouting, uniform?: Tensor): ModelOutput {
    return torch.noGrad(() => {
      const run = (decisions: Tensor) => (this.routed ? this.module.routedForward(x, decisions) : this.module.forward(x, decisions));
      if (this.source.kind !== 'agent' || routing === 'finetuned' || routing === 'frozen') {
        const decisions = this.evalDecisions(x, routing);
        return { logits: run(decisions), decisions };
      }
      const policyLogits = this.policyLogits(x);
      const sample = (u?: Tensor) => gumbelSoftmaxHard(policyLogits, this.tau, u).select(2, 1);
      if (routing !== 'average') {
        const decisions = routing === 'sample' ? sample(uniform) : policyLogits.argmax(2).float();
        return { logits: run(decisions), decisions, policyLogits };
      }
      // The mean of the sampled routings' class probabilities (as log-probabilities), and the
      // mean decisions (the fraction of samples that fine-tuned each block).
      const samples = this.o.evalSamples ?? 8;
      let probs: Tensor | undefined;
      let decisions: Tensor | undefined;
      for (let s = 0; s < samples; s++) {
        const d = sample();
        const p = run(d).softmax(1);
        probs = probs ? probs.add(p) : p;
        decisions = decisions ? decisions.add(d) : d;
      }
      return { logits: (probs as Tensor).div(samples).log(), decisions: (decisions as Tensor).div(samples), policyLogits };
    });
  }

  paramGroups(): ParamGroupSpec[] {
    const agentParams = this.source.kind === 'agent' ? new Set(this.source.agent.parameters()) : new Set();
    const trainable = this.module.parameters().filter((p) => !p.frozen);
    const groups: ParamGroupSpec[] = [{ role: 'net', params: trainable.filter((p) => !agentParams.has(p)) }];
    if (this.source.kind === 'agent') groups.push({ role: 'agent', params: trainable.filter((p) => agentParams.has(p)) });
    return groups;
  }

  /** The fine-tuned network's layers; block l also holds the frozen block's trainable batch norm. */
  layers(): Parameter[][] {
    const layers = backboneLayers(this.module.net);
    for (let l = 0; l < this.numBlocks; l++) layers[l + 1].push(...this.module.frozen.at(l).parameters());
    return layers;
  }

  regularizer(out: ModelOutput): Tensor | undefined {
    return this.o.globalK ? globalKLoss(out.decisions, this.o.globalK) : undefined;
  }

  dispose(): void {
    this.module.dispose();
  }
}

/**
 * The model of the two-branch methods (spottune, spottune-global-k, spottune-finetuned; with
 * policy 'random', random-policy) from their options.
 */
export function spotTuneModel(ctx: StrategyContext, o: Partial<MethodOptions> & OptionValues<typeof TWO_BRANCH_OPTIONS>, policy: 'agent' | 'random'): SpotTuneModel {
  const net = new TwoBranchNet(ctx.pretrained(), ctx.pretrained(), { frozenBn: o.frozenBn });
  const source = policy === 'random'
    ? { kind: 'random' as const, alwaysFrom: Math.max(0, net.numBlocks - 3) }
    : { kind: 'agent' as const, agent: new Agent({ numBlocks: net.numBlocks, inChannels: ctx.inChannels, width: o.agentWidth ?? 1, inputSize: o.agentInputSize }) };
  const globalK = o.k === undefined ? undefined : { k: o.k, lambda1: o.lambda1 ?? 0, lambda2: o.lambda2 ?? 0 };
  // random-policy has no temperature: it samples no Gumbel noise.
  return new SpotTuneModel(net, source, {
    tau: o.tau ?? 1, tauAnneal: o.tauAnneal, evalRouting: o.evalRouting, evalSamples: o.evalSamples, globalK, agentBias: o.agentBias, warmupMixed: o.warmupMixed,
  });
}

/** Sets the policy's last-layer bias to (0, b) for every block: p(fine-tuned) = sigmoid(b) where the features contribute nothing. */
function setPolicyBias(agent: Agent, b: number): void {
  const bias = agent.fc.bias!; // the agent's classifier has a bias; copy_ takes its dtype and device
  torch.noGrad(() => bias.copy_(torch.tensor(Array.from({ length: bias.numel }, (_, i) => (i % 2 === 1 ? b : 0)))));
}
