// SpotTune as a TrainModel: the two-branch network plus where its decisions come from —
// the policy network (SpotTune, Global-k) or coin flips (the "random policy" baseline).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { backboneLayers, type Agent } from '../models/index.js';
import type { Parameter } from '../nn/index.js';
import { globalKLoss, type GlobalKOptions } from './global_k.js';
import { gumbelSoftmaxHard, temperature } from './gumbel.js';
import type { SpotTuneNet } from './spottune_net.js';
import type { EvalRouting, ModelOutput, ParamGroupSpec, StrategyOptions, TrainModel } from './strategy.js';

export type DecisionSource =
  | { kind: 'agent'; agent: Agent }
  /** Blocks from index `alwaysFrom` on always fine-tuned; the others by a fair coin per image. */
  | { kind: 'random'; alwaysFrom: number };

export class SpotTuneModel implements TrainModel {
  readonly numBlocks: number;
  private tau: number;

  constructor(
    readonly module: SpotTuneNet,
    private readonly source: DecisionSource,
    private readonly o: StrategyOptions & { evalRouting: EvalRouting; globalK?: GlobalKOptions; useGlobalK: boolean },
  ) {
    this.numBlocks = module.numBlocks;
    this.tau = o.tau;
    if (source.kind === 'agent') module.registerModule('agent', source.agent);
  }

  startEpoch(epoch: number): void {
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

  private randomDecisions(batch: number): Tensor {
    const { alwaysFrom } = this.source as { alwaysFrom: number };
    const coins = torch.bernoulli(torch.empty([batch, alwaysFrom]), 0.5);
    return torch.cat([coins, torch.ones([batch, this.numBlocks - alwaysFrom])], 1);
  }

  forwardTrain(x: Tensor): ModelOutput {
    const decisions = this.source.kind === 'agent' ? gumbelSoftmaxHard(this.policyLogits(x), this.tau).select(2, 1) : this.randomDecisions(x.shape[0]);
    return { logits: this.module.forward(x, decisions), decisions };
  }

  /** Decisions at evaluation, by the routing option. */
  evalDecisions(x: Tensor, routing: EvalRouting = this.o.evalRouting): Tensor {
    return torch.noGrad(() => {
      const batch = x.shape[0];
      if (routing === 'finetuned') return torch.ones([batch, this.numBlocks]);
      if (routing === 'frozen') return torch.zeros([batch, this.numBlocks]);
      if (this.source.kind === 'random') return this.randomDecisions(batch);
      const logits = this.policyLogits(x);
      if (routing === 'sample') return gumbelSoftmaxHard(logits, this.tau).select(2, 1);
      return logits.argmax(2).float();
    });
  }

  forwardEval(x: Tensor, routing?: EvalRouting): ModelOutput {
    return torch.noGrad(() => {
      const decisions = this.evalDecisions(x, routing);
      const logits = this.o.routed ? this.module.routedForward(x, decisions) : this.module.forward(x, decisions);
      return { logits, decisions };
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
    return this.o.useGlobalK ? globalKLoss(out.decisions, this.o.globalK) : undefined;
  }

  dispose(): void {
    this.module.dispose();
  }
}
