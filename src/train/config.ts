// A training run's configuration: every choice that changes the result, with defaults,
// checked with errors that name the field. Saved as config.json beside the run.
import { ARCHS } from '../models/index.js';
import { METHODS, defaultStrategyOptions, type StrategyOptions } from '../spottune/index.js';

export interface TrainConfig {
  method: string;
  arch: string;
  /** Channel multiplier of the ResNet-26 family. */
  width?: number;
  /** Pre-trained source weights (.pth or .safetensors); none for training from scratch. */
  weights?: string;
  deeperArch?: string;
  deeperWeights?: string;
  /** Task spec, see src/train/task.ts. */
  data: string;
  perClass?: number;
  imageSize?: number;
  epochs: number;
  batchSize: number;
  /** Learning rate of the network (reference: 0.1) and of the policy network (0.01). */
  lr: number;
  lrAgent: number;
  momentum: number;
  weightDecay: number;
  weightDecayAgent: number;
  /** multistep (milestones × gamma), cosine, or constant; optional linear warm-up. */
  schedule: 'multistep' | 'cosine' | 'constant';
  milestones: number[];
  gamma: number;
  warmupEpochs: number;
  labelSmoothing: number;
  seed: number;
  /** Evaluate on the test set every this many epochs (and after the last). */
  evalEvery: number;
  /** Stop with an error when the loss is NaN/Inf (default), or skip that batch. */
  skipNonFinite: boolean;
  strategy: StrategyOptions;
}

export const defaultConfig: Omit<TrainConfig, 'method' | 'arch' | 'data'> = {
  epochs: 30,
  batchSize: 64,
  lr: 0.1,
  lrAgent: 0.01,
  momentum: 0.9,
  weightDecay: 5e-4,
  weightDecayAgent: 1e-3,
  schedule: 'multistep',
  milestones: [],
  gamma: 0.1,
  warmupEpochs: 0,
  labelSmoothing: 0,
  seed: 0,
  evalEvery: 1,
  skipNonFinite: false,
  strategy: defaultStrategyOptions,
};

/** The reference code's intended schedule, scaled to the number of epochs: ×0.1 at 40/60/80 of 110. */
export function referenceMilestones(epochs: number): number[] {
  return [40, 60, 80].map((e) => Math.round((e * epochs) / 110)).filter((e) => e > 0 && e < epochs);
}

export function makeConfig(partial: Partial<TrainConfig> & Pick<TrainConfig, 'method' | 'arch' | 'data'>): TrainConfig {
  const c: TrainConfig = { ...defaultConfig, ...partial, strategy: { ...defaultStrategyOptions, ...partial.strategy } };
  if (partial.milestones === undefined && c.schedule === 'multistep') c.milestones = referenceMilestones(c.epochs);
  validateConfig(c);
  return c;
}

export function validateConfig(c: TrainConfig): void {
  const bad = (field: string, expected: string, got: unknown) => {
    throw new Error(`config field "${field}": expected ${expected}, got ${JSON.stringify(got)}`);
  };
  if (!METHODS.includes(c.method)) bad('method', `one of ${METHODS.join(', ')}`, c.method);
  if (!ARCHS.includes(c.arch)) bad('arch', `one of ${ARCHS.join(', ')}`, c.arch);
  for (const f of ['epochs', 'batchSize'] as const) if (!Number.isInteger(c[f]) || c[f] < 1) bad(f, 'a positive integer', c[f]);
  for (const f of ['lr', 'lrAgent', 'momentum', 'weightDecay', 'weightDecayAgent', 'gamma', 'labelSmoothing'] as const) {
    if (typeof c[f] !== 'number' || !Number.isFinite(c[f]) || c[f] < 0) bad(f, 'a non-negative number', c[f]);
  }
  if (!['multistep', 'cosine', 'constant'].includes(c.schedule)) bad('schedule', 'multistep, cosine or constant', c.schedule);
  if (!Array.isArray(c.milestones) || c.milestones.some((m) => !Number.isInteger(m) || m < 1)) bad('milestones', 'an array of positive integers', c.milestones);
  if (!Number.isInteger(c.warmupEpochs) || c.warmupEpochs < 0 || c.warmupEpochs >= c.epochs) bad('warmupEpochs', `an integer in [0, epochs)`, c.warmupEpochs);
  if (!Number.isInteger(c.seed)) bad('seed', 'an integer', c.seed);
  if (!Number.isInteger(c.evalEvery) || c.evalEvery < 1) bad('evalEvery', 'a positive integer', c.evalEvery);
  if (c.perClass !== undefined && (!Number.isInteger(c.perClass) || c.perClass < 1)) bad('perClass', 'a positive integer', c.perClass);
  if (c.method === 'finetune-deeper' && (!c.deeperArch || !c.deeperWeights)) bad('deeperArch/deeperWeights', 'both set for finetune-deeper', [c.deeperArch, c.deeperWeights]);
  if (!(c.strategy.tau > 0)) bad('strategy.tau', 'a positive number', c.strategy.tau);
  if (!['argmax', 'sample', 'finetuned', 'frozen'].includes(c.strategy.evalRouting)) bad('strategy.evalRouting', 'argmax, sample, finetuned or frozen', c.strategy.evalRouting);
  if (!['train', 'eval'].includes(c.strategy.frozenBn)) bad('strategy.frozenBn', 'train or eval', c.strategy.frozenBn);
}
