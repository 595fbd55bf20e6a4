// Optimizers and learning-rate schedules: `import * as optim from 'spottune/optim'` reads like torch.optim.
export { Optimizer, type GroupOptions, type ParamGroup, type ParamGroupInit, type ParamState, type GroupState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { ModelEma } from './ema.js';
export { GradScaler, gradScalerDefaults, type GradScalerOptions, type GradScalerState } from './grad_scaler.js';
export { LRScheduler, StepLR, MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR, type Scheduler, type SchedulerState } from './schedulers.js';
