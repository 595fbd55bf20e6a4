// One training epoch: for each batch, forward, loss (classification plus the method's
// regulariser), backward, and a step of every optimizer; NaN/Inf stops the run or skips the
// batch (--skip-nonfinite). Data-parallel: gradients are averaged over the processes each
// step, and the epoch's counts summed at its end. With --accum-steps N each batch (the
// effective batch) is split into N micro-batches, their gradients accumulated, then one step.
// With --ema the average is updated after every step.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { ModelEma, SGD } from '../optim/index.js';
import { PolicyStatsAccumulator, type PolicyStats, type TrainModel } from '../spottune/index.js';
import type { DataLoader } from '../data/index.js';
import { batchTensors } from './evaluate.js';
import type { TrainConfig } from './config.js';
import type { Distributed } from './distributed.js';
import type { MixedPrecision } from './device_precision.js';

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
  ema?: ModelEma;
  /** Device, autocast and fp16 loss scaling of the run. */
  mp: MixedPrecision;
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
  const { config, model, loader, opts, params, dist, ema, mp } = c;
  const accum = config.accumSteps ?? 1;
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
      const { x, y } = batchTensors(batch, mp.device);
      const savedBuffers = torch.noGrad(() => buffers.map((b) => b.clone()));
      for (const opt of opts) opt.zeroGrad();
      // Micro-batches: each loss weighted by its share of the batch, so the accumulated gradient
      // is the batch's mean gradient. Policy outputs are recorded once the step is taken.
      const n = batch.y.length;
      const size = Math.ceil(n / accum);
      let value = 0;
      let batchCorrect = 0;
      const d = new Float64Array(L);
      const policyOut: [Tensor, Tensor][] = [];
      for (let from = 0; from < n && Number.isFinite(value); from += size) {
        const m = Math.min(size, n - from);
        const r = torch.tidy(() => {
          const xm = m === n ? x : x.narrow(0, from, m);
          const ym = m === n ? y : y.narrow(0, from, m);
          const { out, loss } = mp.forward(() => {
            const out = model.forwardTrain(xm);
            const ce = torch.crossEntropy(out.logits, ym, { labelSmoothing: config.labelSmoothing });
            const reg = model.regularizer?.(out, ym);
            return { out, loss: reg ? ce.add(reg) : ce };
          });
          const v = loss.item();
          if (!Number.isFinite(v)) return { v };
          mp.backward(m === n ? loss : loss.mul(m / n));
          batchCorrect += out.logits.argmax(1).eq(ym).sum().item();
          const dm = out.decisions.detach().sum(0).toArray();
          for (let l = 0; l < L; l++) d[l] += dm[l];
          // (tensors in the result live until the end of the batch)
          return { v: (v * m) / n, policy: out.policyLogits ? ([out.policyLogits.detach(), out.decisions.detach()] as [Tensor, Tensor]) : undefined };
        });
        value += r.v;
        if (r.policy) policyOut.push(r.policy);
      }
      let finite = Number.isFinite(value);
      if (finite) {
        // fp16: gradients that overflowed at the current loss scale skip the step and back off the
        // scale (GradScaler): loss scaling at work, not divergence.
        if (!mp.unscale(opts)) {
          mp.step(opts);
          return;
        }
        // A finite loss can still overflow in the backward pass.
        finite = allFinite(params.map((p) => p.grad).filter((g) => g !== undefined));
      }
      const gradsBad = Number.isFinite(value) && !finite;
      // Data-parallel: average the gradients over the processes, which all skip (or stop) together.
      if (dist) finite = dist.reduceGradients(params, n, finite);
      if (!finite) {
        if (!config.skipNonFinite) {
          const what = !Number.isFinite(value) ? `the loss became ${value}` : gradsBad ? 'the gradients became NaN/Inf' : 'the loss or gradients became NaN/Inf in another process';
          throw new Error(`${what} at epoch ${epoch + 1}/${config.epochs}, step ${step + 1}/${loader.length}: stopping; ${c.lastGood()}. Lower --lr, or pass --skip-nonfinite to skip such batches`);
        }
        torch.noGrad(() => buffers.forEach((b, i) => b.copy_(savedBuffers[i])));
        mp.discard();
        skipped++;
        return;
      }
      mp.step(opts);
      ema?.update(model.module);
      for (const [logits, decisions] of policyOut) policy.add(logits, decisions);
      seen += n;
      lossSum += value * n;
      correct += batchCorrect;
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
    if (ema) dist.average(ema.buffers(model.module));
  }
  return { seen, lossSum, correct, freq, skipped, ...(policy.result().images > 0 ? { policy: policy.result() } : {}) };
}
