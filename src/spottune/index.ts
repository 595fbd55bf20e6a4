export { gumbelSoftmax, gumbelSoftmaxHard, gumbelNoise, temperature } from './gumbel.js';
export { globalKLoss, type GlobalKOptions } from './global_k.js';
export { TwoBranchNet, type TwoBranchNetOptions } from './two_branch_net.js';
export { SpotTuneModel, type DecisionSource } from './spottune_model.js';
export { PlainModel, type PlainModelOptions } from './plain_model.js';
export { getStrategy, listStrategies, METHODS } from './methods.js';
export * from './method.js';
export { PolicyStatsAccumulator, policyStats, type PolicyStats } from './policy_stats.js';
