// One training epoch: for each batch, forward, loss (classification plus the method's
// regulariser), backward, and a step of every optimizer; NaN/Inf stops the run or skips the
// batch (--skip-nonfinite). Data-parallel: gradients are averaged over the processes each
// step, and the epoch's counts summed at its end.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { SGD } from '../optim/index.js';
import { PolicyStatsAccumulator, type PolicyStats, type TrainModel } from '../spottune/index.js';
import type { DataLoader } from '../data/index.js';
import { batchTensors } from './evaluate.js';
import type { TrainConfig } from './config.js';
import type { Distributed } from './distributed.js';

export interface BatchInfo {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSec: number;
}

export interface EpochStats {
  /** Training images that contributed a step (skipped batches excluded), summed over processes. */
  seen: number;
  lossSum: number;
  correct: number;
  /** Per block: images that used the fine-tuned block. */
  freq: Float64Array;
  skipped: number;
  /** Methods with a policy network: its statistics on this epoch's training images (this process's share). */
  policy?: PolicyStats;
}

export interface EpochContext {
  config: TrainConfig;
  model: TrainModel;
  loader: DataLoader;
  opts: SGD[];
  /** Every trained parameter (for the finiteness check and the gradient all-reduce). */
  params: Tensor[];
  dist?: Distributed;
  /** Where the last good weights are, for error messages. */
  lastGood(): string;
  onBatchEnd?(info: BatchInfo): void;
}

/** Whether every element of every tensor is finite (one reduction per tensor, one item() in all). */
export function allFinite(ts: readonly Tensor[]): boolean {
  if (ts.length === 0) return true;
  return torch.tidy(() => torch.noGrad(() => torch.all(torch.stack(ts.map((t) => torch.all(torch.isfinite(t))))).item())) === 1;
}

export async function trainEpoch(c: EpochContext, epoch: number): Promise<EpochStats> {
  const { config, model, loader, opts, params, dist } = c;
  // With --skip-nonfinite, a skipped batch's forward pass must not leave NaN in batch-norm statistics.
  const buffers = config.skipNonFinite ? model.module.buffers() : [];
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
  for await (const batch of loader.epoch(epoch)) {
    torch.tidy(() => {
      const { x, y } = batchTensors(batch);
      const savedBuffers = torch.noGrad(() => buffers.map((b) => b.clone()));
      const out = model.forwardTrain(x);
      let loss = torch.crossEntropy(out.logits, y, { labelSmoothing: config.labelSmoothing });
      const reg = model.regularizer?.(out, y);
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
          throw new Error(`${what} at epoch ${epoch + 1}/${config.epochs}, step ${step + 1}/${loader.length}: stopping; ${c.lastGood()}. Lower --lr, or pass --skip-nonfinite to skip such batches`);
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
    c.onBatchEnd?.({ epoch, step, steps: loader.length, loss: seen ? lossSum / seen : NaN, imagesPerSec: (seen * (dist?.worldSize ?? 1) * 1000) / (performance.now() - t0) });
  }
  if (dist) {
    // Sum the processes' counts; average their batch-norm running statistics.
    const s = dist.sum([seen, lossSum, correct, ...freq]);
    [seen, lossSum, correct] = s;
    freq.set(s.subarray(3));
    dist.averageBuffers(model.module);
  }
  return { seen, lossSum, correct, freq, skipped, ...(policy.result().images > 0 ? { policy: policy.result() } : {}) };
}
