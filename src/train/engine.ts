// The one training engine every method runs on: epochs over a seeded loader, two parameter
// groups (network and policy, each with its own learning rate, weight decay and schedule),
// evaluation every epoch, metrics.jsonl, `last` and `best` checkpoints written atomically,
// and exact resume. A method changes only the model it builds (see src/spottune/methods.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { SGD, MultiStepLR, CosineAnnealingLR, LinearLR, SequentialLR, type Scheduler, type OptimizerStateDict } from '../optim/index.js';
import { createBackbone, type Backbone } from '../models/index.js';
import { loadPretrained } from '../models/pretrained.js';
import { getStrategy, PolicyStatsAccumulator, type PolicyStats, type StrategyContext, type TrainModel } from '../spottune/index.js';
import { DataLoader, type Batch } from '../data/index.js';
import { writeFileAtomic } from '../io/file.js';
import { openTask, type Task } from './task.js';
import { readConfigFile, validateConfig, type TrainConfig } from './config.js';
import { checkFreeSpace, checkOutputDir, removeCreated, removeStaleTemps } from './preflight.js';
import { loadCheckpoint, plain, saveCheckpoint } from './checkpoint.js';
import type { Distributed } from './distributed.js';

export interface EpochMetrics {
  epoch: number;
  lr: number;
  lrAgent?: number;
  tau?: number;
  trainLoss: number;
  trainAcc: number;
  /** Test accuracy (%), null in epochs without evaluation (see evalEvery). */
  testAcc: number | null;
  testTop5: number | null;
  /** Per block: fraction of training images that used the fine-tuned block. */
  trainBlockFreq: number[];
  /** Per block: the same on the test set (evaluation routing); null without evaluation. */
  blockFreq: number[] | null;
  imagesPerSec: number;
  seconds: number;
  skippedBatches: number;
  /** With skipBadImages: image files skipped this epoch (training and test). */
  skippedImages?: number;
  /** Methods with a policy network: its statistics on this epoch's training images and at evaluation. */
  policy?: { train: PolicyStats; test: PolicyStats | null };
}

export interface RunResult {
  method: string;
  data: string;
  arch: string;
  seed: number;
  perClass?: number;
  epochs: number;
  /** Test accuracy (%) after the last epoch: the headline number (no selection on test). */
  testAcc: number;
  testTop5: number;
  /** Best test accuracy over epochs and its epoch (optimistic; reported for reference). */
  bestTestAcc: number;
  bestEpoch: number;
  blockFreq: number[];
  /** [class][block] fine-tune frequency on the test set. */
  blockFreqByClass: number[][];
  classes: string[];
  trainImages: number;
  trainSeconds: number;
  imagesPerSec: number;
  trainableParams: number;
  /** With skipBadImages: every image file skipped, with why. */
  badImages?: { path: string; reason: string }[];
}

export interface BatchInfo {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
}

export interface Callbacks {
  onBatchEnd?(info: BatchInfo): void;
  onEpochEnd?(m: EpochMetrics): void;
  /** After the final evaluation, before the model is freed (e.g. to record example predictions). */
  onTrainEnd?(run: BuiltRun): void | Promise<void>;
  /** Something the user should know before training starts (e.g. classes without test images). */
  onWarning?(message: string): void;
}

export interface TrainOptions {
  /** Continue from output/last.pth. */
  resume?: boolean;
  callbacks?: Callbacks;
  /** Cache folder for rendered datasets. */
  cacheDir?: string;
  /** Data-parallel training over processes (see distributed.ts); only its main process writes files. */
  distributed?: Distributed;
}

/** The model of a run and everything it was built from. */
export interface BuiltRun {
  task: Task;
  model: TrainModel;
}

export function batchTensors(b: Batch): { x: Tensor; y: Tensor } {
  return { x: torch.tensor(b.x, { shape: b.shape }), y: torch.tensor(b.y).long() };
}

/**
 * Builds a run's task and model. With `forLoading`, pre-trained weights are not read (a
 * checkpoint will overwrite every tensor), so a trained run opens without its source files.
 */
export function buildRun(config: TrainConfig, o: { cacheDir?: string; forLoading?: boolean } = {}): BuiltRun {
  validateConfig(config);
  const task = openTask({ data: config.data, perClass: config.perClass, seed: config.seed, imageSize: config.imageSize, cacheDir: o.cacheDir });
  const numClasses = task.classes.length;
  const cache = new Map<string, Map<string, Tensor>>();
  const load = (arch: string, weights: string | undefined, what: string): Backbone => {
    if (o.forLoading) return createBackbone(arch, { numClasses, inChannels: task.channels, width: config.width });
    if (!weights) throw new Error(`method "${config.method}" starts from pre-trained weights: give ${what}`);
    if (!existsSync(weights)) throw new Error(`${what} ${weights}: file not found`);
    return loadPretrained(weights, { arch, numClasses, inChannels: task.channels, width: config.width, what, log: (line) => console.error(`spottune: ${line}`) }, cache);
  };
  const ctx: StrategyContext = {
    pretrained: () => load(config.arch, config.weights, '--weights'),
    deeper: () => load(config.deeperArch ?? '', config.deeperWeights, '--deeper-weights'),
    scratch: () => createBackbone(config.arch, { numClasses, inChannels: task.channels, width: config.width }),
    numClasses,
    inChannels: task.channels,
    seed: config.seed,
    options: config.strategy,
  };
  torch.manualSeed(config.seed);
  const model = getStrategy(config.method).build(ctx);
  for (const sd of cache.values()) torch.dispose(sd);
  return { task, model };
}

function makeOptimizers(config: TrainConfig, model: TrainModel): { opts: SGD[]; scheds: Scheduler[]; roles: string[] } {
  const opts: SGD[] = [];
  const roles: string[] = [];
  for (const g of model.paramGroups()) {
    if (g.params.length === 0) continue;
    const agent = g.role === 'agent';
    opts.push(new SGD(g.params, {
      lr: agent ? config.lrAgent : config.lr,
      momentum: config.momentum,
      weightDecay: g.weightDecay ?? (agent ? config.weightDecayAgent : config.weightDecay),
    }));
    roles.push(g.role);
  }
  const scheds = opts.map((opt): Scheduler => {
    const mainEpochs = config.epochs - config.warmupEpochs;
    const main = config.schedule === 'cosine' ? new CosineAnnealingLR(opt, mainEpochs) : new MultiStepLR(opt, config.schedule === 'multistep' ? config.milestones.map((m) => m - config.warmupEpochs).filter((m) => m > 0) : [], config.gamma);
    if (config.warmupEpochs === 0) return main;
    return new SequentialLR(opt, [new LinearLR(opt, 0.1, 1, config.warmupEpochs), main], [config.warmupEpochs]);
  });
  return { opts, scheds, roles };
}

interface EvalResult {
  acc: number;
  top5: number;
  blockFreq: number[];
  blockFreqByClass: number[][];
  policy?: PolicyStats;
}

/** With `dist`, each process evaluates its share (`dist.evalLoader`) and the counts are summed. */
export async function evaluate(model: TrainModel, loader: DataLoader, numClasses: number, dist?: Distributed): Promise<EvalResult> {
  model.setTraining(false);
  const L = model.numBlocks;
  let n = 0;
  let correct = 0;
  let correct5 = 0;
  const byClass = Array.from({ length: numClasses }, () => new Float64Array(L));
  const count = new Float64Array(numClasses);
  const policy = new PolicyStatsAccumulator(L);
  for await (const batch of loader.epoch(0)) {
    torch.tidy(() => {
      const { x, y } = batchTensors(batch);
      const out = model.forwardEval(x);
      if (out.policyLogits) policy.add(out.policyLogits);
      correct += out.logits.argmax(1).eq(y).sum().item();
      const k = Math.min(5, numClasses);
      correct5 += torch.topk(out.logits, k, 1)[1].eq(y.unsqueeze(1)).sum().item();
      const d = out.decisions.toArray();
      for (let i = 0; i < batch.y.length; i++) {
        count[batch.y[i]]++;
        for (let l = 0; l < L; l++) byClass[batch.y[i]][l] += d[i * L + l];
      }
      n += batch.y.length;
    });
  }
  if (dist) {
    const s = dist.sum([n, correct, correct5, ...count, ...byClass.flatMap((row) => Array.from(row))]);
    [n, correct, correct5] = s;
    count.set(s.subarray(3, 3 + numClasses));
    byClass.forEach((row, c) => row.set(s.subarray(3 + numClasses + c * L, 3 + numClasses + (c + 1) * L)));
  }
  const total = new Float64Array(L);
  for (const row of byClass) for (let l = 0; l < L; l++) total[l] += row[l];
  return {
    acc: (100 * correct) / n,
    top5: (100 * correct5) / n,
    blockFreq: Array.from(total, (v) => v / n),
    blockFreqByClass: byClass.map((row, c) => Array.from(row, (v) => (count[c] ? v / count[c] : 0))),
    // Statistics of this process's share (not summed over processes).
    ...(policy.result().images > 0 ? { policy: policy.result() } : {}),
  };
}

/** Whether every element of every tensor is finite (one reduction per tensor, one item() in all). */
function allFinite(ts: readonly Tensor[]): boolean {
  if (ts.length === 0) return true;
  return torch.tidy(() => torch.noGrad(() => torch.all(torch.stack(ts.map((t) => torch.all(torch.isfinite(t))))).item())) === 1;
}

function bytesOf(ts: readonly Tensor[]): number {
  let n = 0;
  for (const t of ts) n += t.numel * torch.dtypeSize[t.dtype];
  return n;
}

/** Replaces a file atomically with the given text. */
export function writeTextAtomic(path: string, text: string): void {
  writeFileAtomic(path, (append) => append(Buffer.from(text)));
}

function writeJson(path: string, value: unknown): void {
  writeTextAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Trains a run into `output` (config.json, metrics.jsonl, last.pth, best.pth, result.json). */
export async function train(config: TrainConfig, output: string, o: TrainOptions = {}): Promise<RunResult> {
  const dist = o.distributed;
  const main = !dist || dist.isMain;
  // Every check comes before the first file is written (output folder, then data, weights and
  // free space): a refused run leaves nothing, not even the folder it created for the checks.
  const created = main ? checkOutputDir(output) : [];
  const lastPath = join(output, 'last.pth');
  const bestPath = join(output, 'best.pth');
  const metricsPath = join(output, 'metrics.jsonl');
  let run: BuiltRun & ReturnType<typeof makeOptimizers> & { params: Tensor[] };
  try {
    if (existsSync(lastPath) && !o.resume) throw new Error(`${output} already holds a run (${lastPath}): resume it with --resume, or choose another --output`);
    if (o.resume && existsSync(join(output, 'config.json'))) {
      const saved = readConfigFile(join(output, 'config.json'));
      if (JSON.stringify(saved) !== JSON.stringify(config)) throw new Error(`${output}/config.json differs from this run's configuration: resume with the same settings, or choose another --output`);
    }
    const built = buildRun(config, { cacheDir: o.cacheDir });
    const optim = makeOptimizers(config, built.model);
    run = { ...built, ...optim, params: optim.opts.flatMap((opt) => opt.paramGroups.flatMap((g) => g.params)) };
    // Room for last.pth twice (the old one stays until the new one is complete), momentum included, and best.pth.
    if (main) checkFreeSpace(output, 3 * bytesOf([...run.model.module.parameters(), ...run.model.module.buffers()]) + 2 * bytesOf(run.params) + 2 ** 20, 'the checkpoints');
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  const { task, model, opts, scheds, roles, params } = run;
  if (main) for (const w of task.warnings) o.callbacks?.onWarning?.(w);
  // Temporary files of a killed run go.
  if (main) removeStaleTemps(output);
  if (main) writeJson(join(output, 'config.json'), config);
  // With --skip-nonfinite, a skipped batch's forward pass must not leave NaN in batch-norm statistics.
  const buffers = config.skipNonFinite ? model.module.buffers() : [];
  const lastGood = () => (existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no checkpoint was written yet');
  const skipBad = config.skipBadImages === true;
  const trainOptions = { batchSize: config.batchSize, shuffle: true, seed: config.seed, dropLast: task.train.length > config.batchSize, skipBad };
  const testOptions = { batchSize: Math.max(config.batchSize, 128), skipBad };
  const trainLoader = dist ? dist.trainLoader(task.train, task.trainTransform, trainOptions) : new DataLoader(task.train, task.trainTransform, trainOptions);
  const testLoader = dist ? dist.evalLoader(task.test, task.evalTransform, testOptions) : new DataLoader(task.test, task.evalTransform, testOptions);
  const numClasses = task.classes.length;

  let start = 0;
  let best = { acc: -1, epoch: -1 };
  let history: EpochMetrics[] = [];
  if (o.resume && existsSync(lastPath)) {
    const ck = loadCheckpoint(lastPath);
    const c = plain(ck) as { epoch: number; model: Map<string, Tensor> | Record<string, Tensor>; optimizers: OptimizerStateDict[]; schedulers: unknown[]; rng: Tensor; best: { acc: number; epoch: number }; metrics: string };
    const sd = ck.get('model') as Map<string, Tensor>;
    model.module.loadStateDict(sd);
    c.optimizers.forEach((s, i) => opts[i].loadStateDict(s));
    c.schedulers.forEach((s, i) => scheds[i].loadStateDict(s as never));
    torch.setRngState(c.rng);
    start = c.epoch + 1;
    best = c.best;
    history = JSON.parse(c.metrics) as EpochMetrics[];
    torch.dispose([sd, c]);
  }
  dist?.start(model.module);
  if (main) writeTextAtomic(metricsPath, history.map((m) => JSON.stringify(m) + '\n').join(''));

  let last: EvalResult | undefined;
  let trainSeconds = history.reduce((s, m) => s + m.seconds, 0);
  for (let epoch = start; epoch < config.epochs; epoch++) {
    model.startEpoch?.(epoch);
    const skippedBefore = trainLoader.skipped + testLoader.skipped;
    dist?.startEpoch(config.seed, epoch);
    model.setTraining(true);
    const t0 = performance.now();
    let seen = 0;
    let lossSum = 0;
    let correct = 0;
    let skipped = 0;
    let step = 0;
    const L = model.numBlocks;
    const freq = new Float64Array(L);
    const policy = new PolicyStatsAccumulator(L);
    for await (const batch of trainLoader.epoch(epoch)) {
      torch.tidy(() => {
        const { x, y } = batchTensors(batch);
        const savedBuffers = torch.noGrad(() => buffers.map((b) => b.clone()));
        const out = model.forwardTrain(x);
        let loss = torch.crossEntropy(out.logits, y, { labelSmoothing: config.labelSmoothing });
        const reg = model.regularizer?.(out);
        if (reg) loss = loss.add(reg);
        const value = loss.item();
        for (const opt of opts) opt.zeroGrad();
        let finite = Number.isFinite(value);
        if (finite) {
          loss.backward();
          // A finite loss can still overflow in the backward pass.
          finite = allFinite(params.map((p) => p.grad).filter((g) => g !== undefined));
        }
        const gradsBad = Number.isFinite(value) && !finite;
        // Data-parallel: average the gradients over the processes, which all skip (or stop) together.
        if (dist) finite = dist.reduceGradients(params, batch.y.length, finite);
        if (!finite) {
          if (!config.skipNonFinite) {
            const what = !Number.isFinite(value) ? `the loss became ${value}` : gradsBad ? 'the gradients became NaN/Inf' : 'the loss or gradients became NaN/Inf in another process';
            throw new Error(`${what} at epoch ${epoch + 1}/${config.epochs}, step ${step + 1}/${trainLoader.length}: stopping; ${lastGood()}. Lower --lr, or pass --skip-nonfinite to skip such batches`);
          }
          torch.noGrad(() => buffers.forEach((b, i) => b.copy_(savedBuffers[i])));
          skipped++;
          return;
        }
        for (const opt of opts) opt.step();
        if (out.policyLogits) policy.add(out.policyLogits, out.decisions);
        seen += batch.y.length;
        lossSum += value * batch.y.length;
        correct += out.logits.argmax(1).eq(y).sum().item();
        const d = out.decisions.detach().sum(0).toArray();
        for (let l = 0; l < L; l++) freq[l] += d[l];
      });
      step++;
      o.callbacks?.onBatchEnd?.({ epoch, step, steps: trainLoader.length, loss: seen ? lossSum / seen : NaN, imagesPerSec: (seen * (dist?.worldSize ?? 1) * 1000) / (performance.now() - t0) });
    }
    if (dist) {
      // Sum the processes' counts; average their batch-norm running statistics.
      const s = dist.sum([seen, lossSum, correct, ...freq]);
      [seen, lossSum, correct] = s;
      freq.set(s.subarray(3));
      dist.averageBuffers(model.module);
    }
    if (seen === 0 && skipped > 0) {
      throw new Error(`every batch of epoch ${epoch + 1}/${config.epochs} had a NaN/Inf loss or gradients (${skipped} skipped): the weights have diverged; stopping; ${lastGood()}. Lower --lr`);
    }
    if (!allFinite(params)) {
      throw new Error(`the weights became NaN/Inf during epoch ${epoch + 1}/${config.epochs} (an update overflowed): stopping without saving them; ${lastGood()}. Lower --lr`);
    }
    const seconds = (performance.now() - t0) / 1000;
    trainSeconds += seconds;
    const lrs = opts.map((opt) => opt.paramGroups[0].lr);
    for (const s of scheds) s.step();
    const evaluated = (epoch + 1) % config.evalEvery === 0 || epoch === config.epochs - 1;
    const ev = evaluated ? await evaluate(model, testLoader, numClasses, dist) : undefined;
    if (ev) last = ev;
    if (ev && ev.acc > best.acc) best = { acc: ev.acc, epoch };
    const m: EpochMetrics = {
      epoch,
      lr: lrs[roles.indexOf('net')] ?? 0,
      ...(roles.includes('agent') ? { lrAgent: lrs[roles.indexOf('agent')], tau: (model as { tau?: number }).tau } : {}),
      trainLoss: seen ? lossSum / seen : NaN,
      trainAcc: seen ? (100 * correct) / seen : NaN,
      testAcc: ev ? ev.acc : null,
      testTop5: ev ? ev.top5 : null,
      trainBlockFreq: Array.from(freq, (v) => (seen ? v / seen : 0)),
      blockFreq: ev ? ev.blockFreq : null,
      imagesPerSec: seen / seconds,
      seconds,
      skippedBatches: skipped,
      ...(skipBad ? { skippedImages: trainLoader.skipped + testLoader.skipped - skippedBefore } : {}),
      ...(policy.result().images > 0 ? { policy: { train: policy.result(), test: ev?.policy ?? null } } : {}),
    };
    // The checkpoint holds the metrics too: a crash before metrics.jsonl is rewritten loses nothing.
    history.push(m);
    if (main) torch.tidy(() => {
      const state = {
        epoch,
        model: model.module.stateDict(),
        optimizers: opts.map((opt) => opt.stateDict()),
        schedulers: scheds.map((s) => s.stateDict()),
        rng: torch.getRngState(),
        best,
        metrics: JSON.stringify(history),
      };
      // best.pth first: killed between the two, the resumed run redoes this epoch and rewrites both identically.
      if (best.epoch === epoch) saveCheckpoint(bestPath, { epoch, model: state.model });
      saveCheckpoint(lastPath, state);
    });
    if (main) writeTextAtomic(metricsPath, history.map((h) => JSON.stringify(h) + '\n').join(''));
    o.callbacks?.onEpochEnd?.(m);
  }
  last ??= await evaluate(model, testLoader, numClasses, dist);
  const final = history[history.length - 1];
  const result: RunResult = {
    method: config.method,
    data: config.data,
    arch: config.arch,
    seed: config.seed,
    perClass: config.perClass,
    epochs: config.epochs,
    testAcc: last.acc,
    testTop5: last.top5,
    bestTestAcc: best.acc,
    bestEpoch: best.epoch,
    blockFreq: last.blockFreq,
    blockFreqByClass: last.blockFreqByClass,
    classes: task.classes,
    trainImages: task.train.length,
    trainSeconds,
    imagesPerSec: final ? final.imagesPerSec : 0,
    trainableParams: model.paramGroups().reduce((s, g) => s + g.params.reduce((a, p) => a + p.numel, 0), 0),
    ...(skipBad ? { badImages: [...trainLoader.badFiles, ...testLoader.badFiles].map(([path, reason]) => ({ path, reason })) } : {}),
  };
  if (main) writeJson(join(output, 'result.json'), result);
  await o.callbacks?.onTrainEnd?.({ task, model });
  for (const opt of opts) opt.dispose();
  model.dispose();
  return result;
}
