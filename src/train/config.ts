// A training run's configuration: every choice that changes the result, with defaults,
// checked with errors that name the field. Saved as config.json beside the run.
import { readFileSync } from 'node:fs';
import { PRECISIONS, type Precision } from './device_precision.js';
import { ARCHS } from '../models/index.js';
import { EVAL_ROUTINGS, METHODS, defaultStrategyOptions, type StrategyOptions } from '../spottune/index.js';

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
  /** Input side, channels, mean and std; by default the source model's record (see preprocessing.ts), else the dataset's. */
  imageSize?: number;
  channels?: 1 | 3;
  mean?: number[];
  std?: number[];
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
  /** Skip (and count) image files that cannot be read instead of stopping; see check-data. */
  skipBadImages?: boolean;
  /** Gradient accumulation: one optimizer step per accumSteps batches (effective batch accumSteps × batchSize). Default 1. */
  accumSteps?: number;
  /** Learning rate of every layer below the head (default: lr); see layer_lr.ts. */
  lrBackbone?: number;
  /** Layer-wise decay of the learning rate from the head down (timm's layer_decay). */
  layerDecay?: number;
  /** Decay of an exponential moving average of the weights, evaluated and saved as ema.pth. */
  ema?: number;
  /** Stop when the test accuracy has not improved for this many epochs. */
  patience?: number;
  /** Write TensorBoard event files to <output>/tb. */
  tensorboard?: boolean;
  /** cpu (default), cuda or cuda:N; not part of what a resume compares (a run may move). */
  device?: string;
  /** fp32 (default), bf16 or fp16 (autocast; fp16 with loss scaling, GPU only). */
  precision?: Precision;
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
  // Fields given as undefined (flags left out) keep their defaults.
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as typeof partial;
  const c: TrainConfig = { ...defaultConfig, ...given, strategy: { ...defaultStrategyOptions, ...given.strategy } };
  // A method's options given in part (e.g. strategy.delta.alpha only) keep the others' defaults.
  for (const k of ['bss', 'delta', 'coTuning'] as const) (c.strategy[k] as object) = { ...defaultStrategyOptions[k], ...given.strategy?.[k] };
  if (given.milestones === undefined && c.schedule === 'multistep') c.milestones = referenceMilestones(c.epochs);
  validateConfig(c);
  return c;
}

export function validateConfig(c: TrainConfig): void {
  const bad = (field: string, expected: string, got: unknown) => {
    throw new Error(`config field "${field}": expected ${expected}, got ${show(got)}`);
  };
  if (typeof c !== 'object' || c === null || Array.isArray(c)) bad('(top level)', 'an object', c);
  if (!METHODS.includes(c.method)) bad('method', `one of ${METHODS.join(', ')}`, c.method);
  if (!ARCHS.includes(c.arch)) bad('arch', `one of ${ARCHS.join(', ')}`, c.arch);
  if (typeof c.data !== 'string' || c.data === '') bad('data', 'a dataset spec such as fashion-mnist or cub:<root>', c.data);
  for (const f of ['weights', 'deeperArch', 'deeperWeights'] as const) if (c[f] !== undefined && typeof c[f] !== 'string') bad(f, 'a string', c[f]);
  if (c.width !== undefined && !(typeof c.width === 'number' && c.width > 0 && c.width <= 64)) bad('width', 'a number in (0, 64]', c.width);
  if (c.imageSize !== undefined && (!Number.isInteger(c.imageSize) || c.imageSize < 1 || c.imageSize > 4096)) bad('imageSize', 'an integer in [1, 4096]', c.imageSize);
  for (const f of ['epochs', 'batchSize'] as const) if (!Number.isInteger(c[f]) || c[f] < 1) bad(f, 'a positive integer', c[f]);
  for (const f of ['lr', 'lrAgent', 'momentum', 'weightDecay', 'weightDecayAgent', 'gamma', 'labelSmoothing'] as const) {
    if (typeof c[f] !== 'number' || !Number.isFinite(c[f]) || c[f] < 0) bad(f, 'a non-negative number', c[f]);
  }
  if (!['multistep', 'cosine', 'constant'].includes(c.schedule)) bad('schedule', 'multistep, cosine or constant', c.schedule);
  if (!Array.isArray(c.milestones) || c.milestones.some((m) => !Number.isInteger(m) || m < 1)) bad('milestones', 'an array of positive integers', c.milestones);
  if (!Number.isInteger(c.warmupEpochs) || c.warmupEpochs < 0 || c.warmupEpochs >= c.epochs) bad('warmupEpochs', `an integer in [0, epochs)`, c.warmupEpochs);
  if (!Number.isSafeInteger(c.seed)) bad('seed', 'an integer', c.seed);
  if (!Number.isInteger(c.evalEvery) || c.evalEvery < 1) bad('evalEvery', 'a positive integer', c.evalEvery);
  if (c.channels !== undefined && c.channels !== 1 && c.channels !== 3) bad('channels', '1 or 3', c.channels);
  for (const f of ['mean', 'std'] as const) {
    const v = c[f];
    if (v !== undefined && !(Array.isArray(v) && (v.length === 1 || v.length === 3) && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (f === 'mean' || x > 0)))) bad(f, `1 or 3 finite numbers${f === 'std' ? ', positive' : ''}`, v);
  }
  if (c.skipBadImages !== undefined && typeof c.skipBadImages !== 'boolean') bad('skipBadImages', 'true or false', c.skipBadImages);
  if (c.device !== undefined && !(typeof c.device === 'string' && /^(cpu|cuda(:\d+)?)$/.test(c.device))) bad('device', 'cpu, cuda or cuda:N', c.device);
  if (c.precision !== undefined && !PRECISIONS.includes(c.precision)) bad('precision', PRECISIONS.join(', '), c.precision);
  if (c.perClass !== undefined && (!Number.isInteger(c.perClass) || c.perClass < 1)) bad('perClass', 'a positive integer', c.perClass);
  if (c.accumSteps !== undefined && (!Number.isInteger(c.accumSteps) || c.accumSteps < 1)) bad('accumSteps', 'a positive integer', c.accumSteps);
  if (c.lrBackbone !== undefined && !(typeof c.lrBackbone === 'number' && Number.isFinite(c.lrBackbone) && c.lrBackbone >= 0)) bad('lrBackbone', 'a non-negative number', c.lrBackbone);
  if (c.layerDecay !== undefined && !(typeof c.layerDecay === 'number' && c.layerDecay > 0 && c.layerDecay <= 1)) bad('layerDecay', 'a number in (0, 1]', c.layerDecay);
  if (c.ema !== undefined && !(typeof c.ema === 'number' && c.ema >= 0 && c.ema < 1)) bad('ema', 'a decay in [0, 1)', c.ema);
  if (c.patience !== undefined && (!Number.isInteger(c.patience) || c.patience < 1)) bad('patience', 'a positive integer (epochs)', c.patience);
  if (c.tensorboard !== undefined && typeof c.tensorboard !== 'boolean') bad('tensorboard', 'true or false', c.tensorboard);
  if (c.method === 'finetune-deeper' && (!c.deeperArch || !c.deeperWeights)) bad('deeperArch/deeperWeights', 'both set for finetune-deeper', [c.deeperArch, c.deeperWeights]);
  validateStrategy(c.strategy, bad);
  if ((c.strategy.warmupMixed ?? 0) >= c.epochs) bad('strategy.warmupMixed', `fewer epochs than the run's ${c.epochs}`, c.strategy.warmupMixed);
}

function validateStrategy(s: StrategyOptions, bad: (field: string, expected: string, got: unknown) => never): void {
  const isObject = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
  const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (!isObject(s)) bad('strategy', 'an object', s);
  if (!(typeof s.tau === 'number' && s.tau > 0 && Number.isFinite(s.tau))) bad('strategy.tau', 'a positive number', s.tau);
  if (s.tauAnneal !== undefined && !(isObject(s.tauAnneal) && nonNegative(s.tauAnneal.rate) && s.tauAnneal.min > 0)) bad('strategy.tauAnneal', '{rate ≥ 0, min > 0}', s.tauAnneal);
  if (!(isObject(s.globalK) && nonNegative(s.globalK.k) && nonNegative(s.globalK.lambda1) && nonNegative(s.globalK.lambda2))) bad('strategy.globalK', '{k, lambda1, lambda2} non-negative numbers', s.globalK);
  if (!(isObject(s.l2sp) && nonNegative(s.l2sp.alpha) && nonNegative(s.l2sp.beta) && ['all', 'weights'].includes(s.l2sp.scope))) bad('strategy.l2sp', '{alpha, beta} non-negative numbers and scope all or weights', s.l2sp);
  if (typeof s.routed !== 'boolean') bad('strategy.routed', 'true or false', s.routed);
  // Runs saved before these methods existed have no such fields.
  if (s.bss !== undefined && !(isObject(s.bss) && Number.isInteger(s.bss.k) && s.bss.k >= 1 && nonNegative(s.bss.eta))) bad('strategy.bss', '{k: a positive integer, eta: a non-negative number}', s.bss);
  if (s.delta !== undefined && !(isObject(s.delta) && (['alpha', 'beta', 'alphaSp', 'attentionLr'] as const).every((f) => nonNegative(s.delta[f]))
    && Number.isInteger(s.delta.attentionEpochs) && s.delta.attentionEpochs >= 0 && Number.isInteger(s.delta.attentionBatches) && s.delta.attentionBatches >= 1)) {
    bad('strategy.delta', '{alpha, beta, alphaSp, attentionLr: non-negative numbers, attentionEpochs ≥ 0 and attentionBatches ≥ 1: integers}', s.delta);
  }
  if (s.coTuning !== undefined && !(isObject(s.coTuning) && nonNegative(s.coTuning.lambda))) bad('strategy.coTuning', '{lambda: a non-negative number}', s.coTuning);
  if (!(typeof s.agentWidth === 'number' && s.agentWidth > 0 && s.agentWidth <= 64)) bad('strategy.agentWidth', 'a number in (0, 64]', s.agentWidth);
  if (s.agentInputSize !== undefined && (!Number.isInteger(s.agentInputSize) || s.agentInputSize < 1 || s.agentInputSize > 4096)) bad('strategy.agentInputSize', 'an integer in [1, 4096]', s.agentInputSize);
  if (!EVAL_ROUTINGS.includes(s.evalRouting)) bad('strategy.evalRouting', EVAL_ROUTINGS.join(', '), s.evalRouting);
  if (s.evalSamples !== undefined && !(Number.isInteger(s.evalSamples) && s.evalSamples >= 1 && s.evalSamples <= 1000)) bad('strategy.evalSamples', 'an integer in [1, 1000]', s.evalSamples);
  if (s.agentBias !== undefined && !(typeof s.agentBias === 'number' && Number.isFinite(s.agentBias))) bad('strategy.agentBias', 'a finite number', s.agentBias);
  if (s.warmupMixed !== undefined && !(Number.isInteger(s.warmupMixed) && s.warmupMixed >= 0)) bad('strategy.warmupMixed', 'a non-negative integer (epochs)', s.warmupMixed);
  if (!['train', 'eval'].includes(s.frozenBn)) bad('strategy.frozenBn', 'train or eval', s.frozenBn);
}

/** A value for an error message: JSON, cut short (and no stack overflow on deeply nested input). */
function show(x: unknown): string {
  try {
    return (JSON.stringify(x) ?? String(x)).slice(0, 200);
  } catch {
    return Array.isArray(x) ? 'a deeply nested array' : typeof x;
  }
}

/** A run's config.json, parsed and checked; errors name the file. */
export function readConfigFile(path: string): TrainConfig {
  let config: TrainConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as TrainConfig;
  } catch (e) {
    throw new Error(`${path}: cannot read the run's configuration: ${(e as Error).message}`);
  }
  try {
    validateConfig(config);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return config;
}
