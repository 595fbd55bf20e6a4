// The training engine's public API.
export { train, type TrainOptions, type Callbacks, type EpochMetrics, type RunResult } from './engine.js';
export { buildRun, makeOptimizers, type BuiltRun, type Optimizers } from './build.js';
export { evaluate, batchTensors, type EvalResult } from './evaluate.js';
export type { BatchInfo } from './epoch.js';
export { loadRun, evaluateRun, predict, type LoadedRun, type Prediction } from './saved_run.js';
export { loadCheckpoint } from './checkpoint.js';
export { Progress } from './progress.js';
