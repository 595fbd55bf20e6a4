// The options of the methods, declared once each (see src/util/options.ts): a method takes the
// options of its record; the CLI flags, config.json checks, sweep fields and `spottune methods`
// come from these records.
import { choice, integer, number, numbers, type OptionValues } from '../util/options.js';
import { defaultBssOptions as BSS } from './bss.js';
import { defaultCoTuningOptions as CO_TUNING } from './co_tuning.js';
import { defaultDeltaOptions as DELTA } from './delta.js';

/** SpotTune and the other two-branch methods: policy, temperature, batch norm of the frozen branch, routing at evaluation. */
export const TWO_BRANCH_OPTIONS = {
  frozenBn: choice(['train', 'eval'], { default: 'train', help: 'batch norm of the frozen blocks: train (reference code: batch statistics, trainable) or eval (frozen)' }),
  evalRouting: choice(['argmax', 'sample', 'average', 'finetuned', 'frozen'], { default: 'argmax', help: 'decisions at evaluation: argmax, sample (the reference code), average (class probabilities of --eval-samples sampled routings), finetuned or frozen (every image on one branch)' }),
};

export const SPOTTUNE_OPTIONS = {
  ...TWO_BRANCH_OPTIONS,
  tau: number({ default: 5, above: 0, help: 'Gumbel-softmax temperature (reference: 5, fixed)' }),
  tauAnneal: numbers(['rate', 'min'], { expected: '{rate ≥ 0, min > 0}', valid: (v) => v.rate >= 0 && v.min > 0, help: 'anneal τ as τ·exp(−rate·epoch), not below min, e.g. 0.05,0.5' }),
  agentWidth: number({ default: 1, above: 0, max: 64, help: 'channel multiplier of the policy network' }),
  agentInputSize: integer({ min: 1, max: 4096, help: 'resize images to this size for the policy network' }),
  evalSamples: integer({ min: 1, max: 1000, help: 'sampled routings averaged by --eval-routing average (default 8)' }),
  agentBias: number({ help: 'initial bias of each block\'s fine-tuned logit over the frozen one: the policy starts fine-tuning with probability sigmoid(b) (default: the reference code\'s random init)' }),
  warmupMixed: integer({ min: 0, help: 'epochs at the start in which both branches are mixed by the soft Gumbel-softmax sample instead of routed by the hard one' }),
};

export const GLOBAL_K_OPTIONS = {
  ...SPOTTUNE_OPTIONS,
  k: number({ default: 4, min: 0, help: 'Global-k: blocks to fine-tune on average' }),
  lambda1: number({ default: 0.1, min: 0, help: 'Global-k: weight of (Σv − k)²' }),
  lambda2: number({ default: 0.1, min: 0, help: 'Global-k: weight of the entropy term' }),
};

export const L2SP_OPTIONS = {
  l2spAlpha: number({ default: 0.01, min: 0, help: 'L2-SP: α, pull toward the pre-trained weights' }),
  l2spBeta: number({ default: 0.01, min: 0, help: 'L2-SP: β, decay of the new head' }),
  l2spScope: choice(['all', 'weights'], { default: 'all', help: 'L2-SP: every backbone tensor, or conv/linear weights only' }),
};

// Their defaults are TLlib's, kept with each method (docs/methods.md says where each comes from).
export const DELTA_OPTIONS = {
  deltaAlpha: number({ default: DELTA.alpha, min: 0, help: 'DELTA: α, weight of the attention-weighted feature-map distance' }),
  deltaBeta: number({ default: DELTA.beta, min: 0, help: 'DELTA: β, weight of ½‖w‖² on the new classifier' }),
  deltaAlphaSp: number({ default: DELTA.alphaSp, min: 0, help: 'DELTA: weight of ½‖w − w⁰‖² on the backbone (L2-SP; 0 in DELTA and TLlib)' }),
  deltaAttentionEpochs: integer({ default: DELTA.attentionEpochs, min: 0, help: 'DELTA: epochs of the linear classifier the channel attention is measured with' }),
  deltaAttentionLr: number({ default: DELTA.attentionLr, min: 0, help: 'DELTA: its learning rate (×0.1 every 6 epochs)' }),
  deltaAttentionBatches: integer({ default: DELTA.attentionBatches, min: 1, help: 'DELTA: batches over which each channel\'s loss increase is averaged' }),
};

export const BSS_OPTIONS = {
  bssK: integer({ default: BSS.k, min: 1, help: 'BSS: how many of the smallest singular values are penalised' }),
  bssEta: number({ default: BSS.eta, min: 0, help: 'BSS: weight η of the penalty' }),
};

export const CO_TUNING_OPTIONS = {
  coTuningLambda: number({ default: CO_TUNING.lambda, min: 0, help: 'Co-Tuning: weight λ of the source-label loss' }),
};

/** Every method option (a run's config.json holds those of its method). */
export type MethodOptions = OptionValues<typeof GLOBAL_K_OPTIONS & typeof L2SP_OPTIONS & typeof DELTA_OPTIONS & typeof BSS_OPTIONS & typeof CO_TUNING_OPTIONS>;
export type EvalRouting = MethodOptions['evalRouting'];
