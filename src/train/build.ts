// A run's model and optimizers, built from its configuration: the task (datasets and
// transforms), the method's model over the pre-trained weights, and one SGD per parameter
// group (network, policy) with its learning-rate schedule.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { SGD, MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR, type Scheduler } from '../optim/index.js';
import { createBackbone, type Backbone } from '../models/index.js';
import { buildMethod, getMethod, type StrategyContext, type TrainModel, type TrainingSet } from '../spottune/index.js';
import { DataLoader } from '../data/index.js';
import { batchTensors } from './evaluate.js';
import { loadPretrained } from '../models/pretrained.js';
import { openTask, type Task } from './task.js';
import { describeInput, sourcePreprocessing, type Preprocessing } from './preprocessing.js';
import { validateConfig, type TrainConfig } from './config.js';
import { layerGroups } from './layer_lr.js';

/** The model of a run and everything it was built from. */
export interface BuiltRun {
  task: Task;
  model: TrainModel;
}

/**
 * Builds a run's task and model. With `forLoading`, pre-trained weights are not read (a
 * checkpoint will overwrite every tensor), so a trained run opens without its source files.
 */
export function buildRun(config: TrainConfig, o: { cacheDir?: string; forLoading?: boolean; preprocessing?: Preprocessing } = {}): BuiltRun {
  validateConfig(config);
  // The input the network expects: flags first, then the run's record (loading) or the source model's.
  const recorded = o.forLoading ? o.preprocessing : config.weights ? sourcePreprocessing(config.weights) : undefined;
  const input = { channels: (config.channels as 1 | 3 | undefined) ?? recorded?.channels, mean: config.mean ?? recorded?.mean, std: config.std ?? recorded?.std };
  const task = openTask({ data: config.data, perClass: config.perClass, seed: config.seed, imageSize: config.imageSize ?? recorded?.imageSize, input, cacheDir: o.cacheDir });
  if (!o.forLoading && recorded) console.error(`spottune: ${describeInput(recorded, config.weights!)}`);
  const numClasses = task.classes.length;
  const cache = new Map<string, Map<string, Tensor>>();
  const load = (arch: string, weights: string | undefined, what: string, keepClassifier = false): Backbone => {
    if (o.forLoading) return createBackbone(arch, { numClasses, inChannels: task.channels, width: config.width });
    if (!weights) throw new Error(`method "${config.method}" starts from pre-trained weights: give ${what}`);
    if (!existsSync(weights)) throw new Error(`${what} ${weights}: file not found`);
    return loadPretrained(weights, { arch, numClasses, inChannels: task.channels, width: config.width, what, keepClassifier, log: (line) => console.error(`spottune: ${line}`) }, cache);
  };
  const ctx: StrategyContext = {
    pretrained: () => load(config.arch, config.weights, '--weights'),
    source: () => load(config.arch, config.weights, '--weights', true),
    deeper: () => load(config.deeperArch ?? '', config.deeperWeights, '--deeper-weights'),
    scratch: () => createBackbone(config.arch, { numClasses, inChannels: task.channels, width: config.width }),
    numClasses,
    inChannels: task.channels,
    seed: config.seed,
  };
  const options = Object.fromEntries(Object.keys(getMethod(config.method).options).map((k) => [k, (config as Record<string, unknown>)[k]]));
  torch.manualSeed(config.seed);
  const model = buildMethod(config.method, ctx, options);
  for (const sd of cache.values()) torch.dispose(sd);
  return { task, model };
}

/** The training set as TrainModel.prepare sees it: the run's batch size, seeded like the run. */
export function trainingSet(task: Task, config: TrainConfig): TrainingSet {
  return {
    numClasses: task.classes.length,
    forEach: async (fn, o = {}) => {
      const skipBad = config.skipBadImages === true;
      const loader = o.augment
        ? new DataLoader(task.train, task.trainTransform, { batchSize: config.batchSize, shuffle: true, seed: config.seed, skipBad })
        : new DataLoader(task.train, task.evalTransform, { batchSize: config.batchSize, skipBad });
      let n = 0;
      for await (const batch of loader.epoch(o.epoch ?? 0)) {
        if (n++ === o.limit) break;
        torch.tidy(() => {
          const { x, y } = batchTensors(batch);
          fn(x, y);
        });
      }
    },
  };
}

/** One SGD per non-empty parameter group, and its schedule (optional linear warm-up, then multistep or cosine). */
export interface Optimizers {
  opts: SGD[];
  scheds: Scheduler[];
  /** The group's role ('net' or 'agent') of each optimizer. */
  roles: string[];
}

export function makeOptimizers(config: TrainConfig, model: TrainModel): Optimizers {
  const opts: SGD[] = [];
  const roles: string[] = [];
  for (const g of model.paramGroups()) {
    if (g.params.length === 0) continue;
    const agent = g.role === 'agent';
    // The network's layers may have their own rates (--lr-backbone, --layer-decay); the head's comes first.
    const groups = agent ? [{ params: g.params }] : layerGroups(model.layers(), g.params, config).map((l) => ({ params: l.params, lr: l.lr }));
    opts.push(new SGD(groups, {
      lr: agent ? config.lrAgent : config.lr,
      momentum: config.momentum,
      weightDecay: g.weightDecay ?? (agent ? config.weightDecayAgent : config.weightDecay),
    }));
    roles.push(g.role);
  }
  const scheds = opts.map((opt): Scheduler => {
    const mainEpochs = config.epochs - config.warmupEpochs;
    const main = config.schedule === 'cosine' ? new CosineAnnealingLR(opt, mainEpochs) : new MultiStepLR(opt, config.schedule === 'multistep' ? (config.milestones ?? []).map((m) => m - config.warmupEpochs).filter((m) => m > 0) : [], config.gamma);
    if (config.warmupEpochs === 0) return main;
    return new SequentialLR(opt, [new LinearLR(opt, 0.1, 1, config.warmupEpochs), main], [config.warmupEpochs]);
  });
  return { opts, scheds, roles };
}
