// The one training engine every method runs on: epochs over a seeded loader, two parameter
// groups (network and policy, each with its own learning rate, weight decay and schedule),
// evaluation every few epochs, metrics.jsonl, `last` and `best` checkpoints written atomically,
// and exact resume. A method changes only the model it builds (see src/spottune/methods.ts).
//
// train() reads top to bottom: check the output folder, build the run (build.ts), resume
// (checkpoint.ts), then per epoch: train (epoch.ts), evaluate (evaluate.ts), checkpoint.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { ModelEma } from '../optim/index.js';
import { DataLoader } from '../data/index.js';
import { writeTextAtomic } from '../io/file.js';
import { readConfigFile, sameRun, type TrainConfig } from './config.js';
import { PREPROCESSING_FILE } from './preprocessing.js';
import { checkFreeSpace, checkOutputDir, removeCreated, removeStaleTemps } from './preflight.js';
import { loadRunCheckpoint, saveCheckpoint, saveRunCheckpoint } from './checkpoint.js';
import { buildRun, makeOptimizers, trainingSet, type BuiltRun, type Optimizers } from './build.js';
import { trainEpoch, allFinite, type BatchInfo } from './epoch.js';
import { evaluate, type EvalResult } from './evaluate.js';
import type { Distributed } from './distributed.js';
import { MixedPrecision, checkDevicePrecision, explainOutOfMemory } from './device_precision.js';
import type { PolicyStats } from '../spottune/index.js';
import { TensorBoardLog } from './tensorboard.js';

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
  /** With --ema: the test accuracy of the averaged weights (null in epochs without evaluation). */
  emaTestAcc?: number | null;
  emaTestTop5?: number | null;
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
  /** With --ema: the test accuracy of the averaged weights after the last epoch. */
  emaTestAcc?: number;
  /** With --patience: the epoch (0-based) after which the run stopped early. */
  stoppedEpoch?: number;
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

function bytesOf(ts: readonly Tensor[]): number {
  let n = 0;
  for (const t of ts) n += t.numel * torch.dtypeSize[t.dtype];
  return n;
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
  const emaPath = join(output, 'ema.pth');
  const metricsPath = join(output, 'metrics.jsonl');
  let run: BuiltRun & Optimizers & { params: Tensor[] };
  let device: string;
  try {
    // A device this machine lacks, or fp16 on the CPU, is refused before any work.
    device = checkDevicePrecision(config.device ?? 'cpu', config.precision ?? 'fp32');
    if (existsSync(lastPath) && !o.resume) throw new Error(`${output} already holds a run (${lastPath}): resume it with --resume, or choose another --output`);
    if (o.resume && existsSync(join(output, 'config.json'))) {
      const saved = readConfigFile(join(output, 'config.json'));
      // Where it computes may differ: a run trained on a GPU resumes on the CPU and the other way round, with other --workers.
      if (!sameRun(saved, config)) throw new Error(`${output}/config.json differs from this run's configuration: resume with the same settings, or choose another --output`);
    }
    const built = buildRun(config, { cacheDir: o.cacheDir });
    built.model.module.to(device);
    const optim = makeOptimizers(config, built.model);
    run = { ...built, ...optim, params: optim.opts.flatMap((opt) => opt.paramGroups.flatMap((g) => g.params)) };
    // Room for last.pth twice (the old one stays until the new one is complete), momentum included, and best.pth;
    // with --ema, the average in last.pth and in ema.pth (each twice while replaced).
    const copies = config.ema !== undefined ? 7 : 3;
    if (main) checkFreeSpace(output, copies * bytesOf([...run.model.module.parameters(), ...run.model.module.buffers()]) + 2 * bytesOf(run.params) + 2 ** 20, 'the checkpoints');
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  const { task, model, opts, scheds, roles, params } = run;
  const mp = new MixedPrecision(device, config.precision ?? 'fp32');
  if (main) for (const w of task.warnings) o.callbacks?.onWarning?.(w);
  // Temporary files of a killed run go.
  if (main) removeStaleTemps(output);
  if (main) writeJson(join(output, 'config.json'), config);
  if (main) writeJson(join(output, PREPROCESSING_FILE), task.preprocessing);
  const lastGood = () => (existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no checkpoint was written yet');
  const skipBad = config.skipBadImages === true;
  // With --accum-steps the loader draws the effective batch (epoch.ts splits it): the same images
  // per optimizer step, in the same order, as one batch of that size.
  const stepBatch = config.batchSize * (config.accumSteps ?? 1);
  const workers = config.workers ?? 0;
  const trainOptions = { batchSize: stepBatch, shuffle: true, seed: config.seed, dropLast: task.train.length > stepBatch, skipBad, workers };
  const testOptions = { batchSize: Math.max(config.batchSize, 128), skipBad, workers };
  const trainLoader = dist ? dist.trainLoader(task.train, task.trainTransform, trainOptions) : new DataLoader(task.train, task.trainTransform, trainOptions);
  const testLoader = dist ? dist.evalLoader(task.test, task.evalTransform, testOptions) : new DataLoader(task.test, task.evalTransform, testOptions);
  const numClasses = task.classes.length;

  let start = 0;
  let best = { acc: -1, epoch: -1 };
  let history: EpochMetrics[] = [];
  let savedEma: Map<string, Tensor> | undefined;
  if (o.resume && existsSync(lastPath)) {
    const state = loadRunCheckpoint(lastPath, (sd, s) => {
      model.module.loadStateDict(sd);
      s.optimizers.forEach((st, i) => opts[i].loadStateDict(st));
      s.schedulers.forEach((st, i) => scheds[i].loadStateDict(st as never));
      if (config.ema !== undefined && !s.ema) throw new Error(`${lastPath} has no EMA weights: it was not written with --ema`);
      if (config.ema !== undefined) savedEma = torch.noGrad(() => new Map((s.ema instanceof Map ? [...s.ema] : Object.entries(s.ema!)).map(([k, t]) => [k, t.to(device)])));
      mp.loadStateDict(s.scaler);
    }, device);
    start = state.epoch + 1;
    best = state.best;
    history = JSON.parse(state.metrics) as EpochMetrics[];
  }
  if (start === 0) await model.prepare?.(trainingSet(task, config));
  dist?.start(model.module);
  if (main) writeTextAtomic(metricsPath, history.map((m) => JSON.stringify(m) + '\n').join(''));
  // --ema: the average starts from the (broadcast) weights, or continues the saved one.
  const ema = config.ema !== undefined ? new ModelEma(model.module, config.ema) : undefined;
  if (ema && savedEma) ema.load(savedEma);
  torch.dispose(savedEma);
  const evaluateEma = () => ema!.withWeights(model.module, () => evaluate(model, testLoader, numClasses, dist, mp));
  // --patience: stop at an evaluation that is `patience` epochs past the best; a stopped run stays stopped.
  const patienceSpent = (epoch: number) => config.patience !== undefined && best.epoch >= 0 && epoch - best.epoch >= config.patience && epoch < config.epochs - 1;
  let stoppedEpoch = start > 0 && history[start - 1]?.testAcc != null && patienceSpent(start - 1) ? start - 1 : undefined;
  const tb = main && config.tensorboard && stoppedEpoch === undefined && start < config.epochs ? new TensorBoardLog(output) : undefined;

  let last: EvalResult | undefined;
  let lastEma: EvalResult | undefined;
  let trainSeconds = history.reduce((s, m) => s + m.seconds, 0);
  for (let epoch = start; epoch < config.epochs && stoppedEpoch === undefined; epoch++) {
    model.startEpoch?.(epoch);
    const skippedBefore = trainLoader.skipped + testLoader.skipped;
    dist?.startEpoch(config.seed, epoch);
    const t0 = performance.now();
    const { seen, lossSum, correct, freq, skipped, policy } = await trainEpoch({ config, model, loader: trainLoader, opts, params, dist, ema, mp, lastGood, onBatchEnd: o.callbacks?.onBatchEnd }, epoch).catch((e: unknown) => {
      throw explainOutOfMemory(e, config.batchSize, device);
    });
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
    const ev = evaluated ? await evaluate(model, testLoader, numClasses, dist, mp) : undefined;
    const emaEv = ev && ema ? await evaluateEma() : undefined;
    if (ev) last = ev;
    if (emaEv) lastEma = emaEv;
    if (ev && ev.acc > best.acc) best = { acc: ev.acc, epoch };
    if (ev && patienceSpent(epoch)) stoppedEpoch = epoch;
    const m: EpochMetrics = {
      epoch,
      lr: lrs[roles.indexOf('net')] ?? 0,
      ...(roles.includes('agent') ? { lrAgent: lrs[roles.indexOf('agent')], tau: model.tau } : {}),
      trainLoss: seen ? lossSum / seen : NaN,
      trainAcc: seen ? (100 * correct) / seen : NaN,
      testAcc: ev ? ev.acc : null,
      testTop5: ev ? ev.top5 : null,
      ...(ema ? { emaTestAcc: emaEv ? emaEv.acc : null, emaTestTop5: emaEv ? emaEv.top5 : null } : {}),
      trainBlockFreq: Array.from(freq, (v) => (seen ? v / seen : 0)),
      blockFreq: ev ? ev.blockFreq : null,
      imagesPerSec: seen / seconds,
      seconds,
      skippedBatches: skipped,
      ...(skipBad ? { skippedImages: trainLoader.skipped + testLoader.skipped - skippedBefore } : {}),
      ...(policy ? { policy: { train: policy, test: ev?.policy ?? null } } : {}),
    };
    history.push(m);

    if (main) torch.tidy(() => {
      const weights = model.module.stateDict();
      // best.pth first: killed between the two, the resumed run redoes this epoch and rewrites both identically.
      if (best.epoch === epoch) saveCheckpoint(bestPath, { epoch, model: weights });
      if (ema) saveCheckpoint(emaPath, { epoch, model: ema.state });
      saveRunCheckpoint(lastPath, weights, { epoch, optimizers: opts.map((opt) => opt.stateDict()), schedulers: scheds.map((s) => s.stateDict()), best, metrics: JSON.stringify(history), ema: ema?.state, scaler: mp.stateDict() }, device);
      writeTextAtomic(metricsPath, history.map((h) => JSON.stringify(h) + '\n').join(''));
    });
    tb?.epoch(m);
    o.callbacks?.onEpochEnd?.(m);
  }
  tb?.close();
  last ??= await evaluate(model, testLoader, numClasses, dist, mp);
  if (ema) lastEma ??= await evaluateEma();
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
    ...(lastEma ? { emaTestAcc: lastEma.acc } : {}),
    ...(stoppedEpoch !== undefined ? { stoppedEpoch } : {}),
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
  await Promise.all([trainLoader.close(), testLoader.close()]);
  for (const opt of opts) opt.dispose();
  ema?.dispose();
  model.dispose();
  return result;
}
