// Evaluation of a model on a loader: top-1 and top-5 accuracy, how often each block ran its
// fine-tuned branch (overall and per class), and the policy's statistics. Data-parallel: each process evaluates its
// share and the counts are summed.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { PolicyStatsAccumulator, type PolicyStats, type TrainModel } from '../spottune/index.js';
import type { Batch, DataLoader } from '../data/index.js';
import type { Distributed } from './distributed.js';
import type { MixedPrecision } from './device_precision.js';

export interface EvalResult {
  acc: number;
  top5: number;
  blockFreq: number[];
  blockFreqByClass: number[][];
  policy?: PolicyStats;
}

/** A batch's tensors on the device (on a GPU copied from pinned memory without blocking). */
export function batchTensors(b: Batch, device = 'cpu'): { x: Tensor; y: Tensor } {
  return { x: torch.toDeviceAsync(torch.tensor(b.x, { shape: b.shape, device: 'cpu' }), device), y: torch.toDeviceAsync(torch.tensor(b.y, { device: 'cpu' }).long(), device) };
}

/** With `dist`, each process evaluates its share (`dist.evalLoader`) and the counts are summed. */
export async function evaluate(model: TrainModel, loader: DataLoader, numClasses: number, dist?: Distributed, mp?: MixedPrecision): Promise<EvalResult> {
  const device = mp?.device ?? 'cpu';
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
      const { x, y } = batchTensors(batch, device);
      const out = mp ? mp.forward(() => model.forwardEval(x)) : model.forwardEval(x);
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
