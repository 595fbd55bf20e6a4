// `import { train } from 'spottune'`: train a method on a task, evaluate it, predict with it.
// The layers have their own entry points: spottune/torch, spottune/nn, spottune/optim,
// spottune/models, spottune/data.
export { train, evaluate, type TrainOptions, type Callbacks, type BatchInfo, type EpochMetrics, type RunResult, type BuiltRun } from './train/index.js';
export { makeConfig, validateConfig, readConfigFile, type TrainConfig } from './train/config.js';
export { TRAIN_OPTIONS } from './train/options.js';
export { loadRun, evaluateRun, predict, type LoadedRun, type Prediction } from './train/saved_run.js';
export { openTask, type Task, type TaskSpec } from './train/task.js';
export { METHODS, getMethod, buildMethod, listMethods, type Method, type MethodOptions, type TrainModel } from './spottune/index.js';
export { ARCHS, createBackbone, type ArchOptions, type Backbone } from './models/index.js';
export { readWeights, writeWeights } from './io/tensors.js';
