// A method is one row of the paper's table: its options, and how to build, from the
// pre-trained network, the model that the one training engine (src/train) trains and
// evaluates. It is a small object, not a fork of the training loop.
import type { Tensor } from '../torch/index.js';
import type { Module, Parameter } from '../nn/index.js';
import type { Backbone } from '../models/index.js';
import type { OptionSpec, OptionValues } from '../util/options.js';

export interface ModelOutput {
  logits: Tensor;
  /** Per image and block, 1 = the fine-tuned block was used, 0 = the frozen one: [B, L]. */
  decisions: Tensor;
  /** The policy network's logits [B, L, 2], for the policy statistics (methods with a policy network). */
  policyLogits?: Tensor;
}

/** A single network's training output, with the pooled features its classifier saw [B, D]. */
export interface FeatureOutput extends ModelOutput {
  features: Tensor;
}

export type ParamRole = 'net' | 'agent';
export interface ParamGroupSpec {
  role: ParamRole;
  params: Parameter[];
  /** Overrides the role's weight decay (L2-SP replaces weight decay with its own penalty). */
  weightDecay?: number;
}

export interface StrategyContext {
  /** A backbone of the run's architecture holding the pre-trained weights, classifier already replaced for the target. */
  pretrained(): Backbone;
  /** The pre-trained network as it was trained, its source classifier kept (Co-Tuning). */
  source(): Backbone;
  /** The same for the deeper architecture (finetune-deeper only). */
  deeper(): Backbone;
  /** A randomly initialised backbone of the run's architecture, target classifier. */
  scratch(): Backbone;
  numClasses: number;
  /** Input channels of the images (for the policy network). */
  inChannels: number;
  seed: number;
}

/** The target's training set, for a model that looks at it before training (see TrainModel.prepare). */
export interface TrainingSet {
  numClasses: number;
  /**
   * Calls fn on every batch (the first `limit` only, when given), each inside its own tidy scope.
   * By default in a fixed order with the evaluation transform; with `augment`, shuffled (seeded
   * by `epoch`) with the training transform.
   */
  forEach(fn: (x: Tensor, y: Tensor) => void, o?: { augment?: boolean; epoch?: number; limit?: number }): Promise<void>;
}

/** What the engine trains. */
export interface TrainModel {
  /** Everything that is saved in a checkpoint. */
  readonly module: Module<any[], unknown>;
  readonly numBlocks: number;
  /** Gumbel-softmax temperature of the current epoch (models with a policy network). */
  readonly tau?: number;
  /** Training forward pass (the engine has called setTraining(true)). */
  forwardTrain(x: Tensor): ModelOutput;
  /** Evaluation forward pass, in evaluation mode, without gradients. */
  forwardEval(x: Tensor): ModelOutput;
  setTraining(on: boolean): void;
  paramGroups(): ParamGroupSpec[];
  /**
   * The network's parameters layer by layer from the input up (stem, each block, head), the
   * policy network left out: per-layer learning rates (--layer-decay, --lr-backbone) follow it.
   */
  layers(): Parameter[][];
  /** Extra loss terms (Global-k, L2-SP, ...), added to the classification loss; y: the batch's labels. */
  regularizer?(out: ModelOutput, y: Tensor): Tensor | undefined;
  /**
   * Called once before the first epoch of a new run (not on resume): a pass over the training
   * set with the source model (Co-Tuning's category relationship, DELTA's channel attention).
   * What it computes must live in the module's buffers, so checkpoints hold it.
   */
  prepare?(data: TrainingSet): Promise<void>;
  /** Called before each epoch (temperature annealing). */
  startEpoch?(epoch: number): void;
  dispose(): void;
}

/** The options a method declares: name → declaration (see src/spottune/options.ts). */
export type OptionRecord = Record<string, OptionSpec<unknown>>;

/** A method: one row of the paper's table, with its options and how it builds what the engine trains. */
export interface Method<R extends OptionRecord = OptionRecord> {
  readonly name: string;
  /** One line for `spottune methods` and reports. */
  readonly summary: string;
  /** The paper that defines the method, where it is not one of the SpotTune paper's own baselines. */
  readonly paper?: string;
  /** Its options; a run's config.json holds exactly these (with their defaults filled). */
  readonly options: R;
  build(ctx: StrategyContext, options: OptionValues<R>): TrainModel;
}
