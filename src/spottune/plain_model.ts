// A single network with some parts frozen: the baselines that decide once, for every image,
// which blocks to fine-tune (standard fine-tuning, feature extractor, last-k, stochastic,
// L2-SP, training from scratch). Frozen parts keep their weights and, being frozen, their
// batch-norm statistics too (evaluation mode), as "frozen" means in common practice.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module, Parameter } from '../nn/index.js';
import { backboneLayers, type Backbone } from '../models/index.js';
import type { FeatureOutput, ModelOutput, ParamGroupSpec, TrainModel } from './method.js';

export interface PlainModelOptions {
  /** Modules to freeze (weights and batch-norm statistics). */
  frozen: Module<any[], unknown>[];
  /** Extra loss, e.g. L2-SP's penalty, BSS's on the batch's features. */
  regularizer?: (out: FeatureOutput, y: Tensor) => Tensor;
  /** Weight decay of the network group, overriding the run's (L2-SP: 0). */
  weightDecay?: number;
  /** Called when the model is disposed (to free what the regularizer holds). */
  onDispose?: () => void;
}

export class PlainModel implements TrainModel {
  readonly numBlocks: number;
  /** Per block, whether it is fine-tuned (reported as the decisions of every image). */
  readonly tunedBlocks: boolean[];

  constructor(readonly module: Backbone, private readonly o: PlainModelOptions) {
    for (const m of o.frozen) m.freeze();
    this.numBlocks = module.blocks.length;
    const frozenSet = new Set(o.frozen.flatMap((m) => m.modules()));
    this.tunedBlocks = module.blocks.map((b) => !frozenSet.has(b));
  }

  setTraining(on: boolean): void {
    this.module.train(on);
    for (const m of this.o.frozen) m.eval();
  }

  protected decisions(x: Tensor): Tensor {
    return torch.tensor(this.tunedBlocks.map(Number), { device: x.device }).expand(x.shape[0], this.numBlocks);
  }

  forwardTrain(x: Tensor): FeatureOutput {
    const net = this.module;
    let h = net.stem(x);
    for (const b of net.blocks) h = b.forward(h);
    const features = net.features(h);
    return { logits: net.fc.forward(features), decisions: this.decisions(x), features };
  }

  forwardEval(x: Tensor): ModelOutput {
    return torch.noGrad(() => ({ logits: this.module.forward(x), decisions: this.decisions(x) }));
  }

  paramGroups(): ParamGroupSpec[] {
    return [{ role: 'net', params: this.module.parameters().filter((p) => !p.frozen), weightDecay: this.o.weightDecay }];
  }

  layers(): Parameter[][] {
    return backboneLayers(this.module);
  }

  regularizer(out: FeatureOutput, y: Tensor): Tensor | undefined {
    return this.o.regularizer?.(out, y);
  }

  dispose(): void {
    this.o.onDispose?.();
    this.module.dispose();
  }
}
