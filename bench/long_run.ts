// A long training run through the real engine (SpotTune on ResNet-26 width 0.25, 28×28 grey
// batches of Fashion-MNIST: loader, two-branch forward and backward, two optimizers, per-epoch
// checkpoints and periodic evaluation), with the process's resident memory (RSS), live tensor
// handles and allocator bytes sampled every `--every` steps. After warm-up RSS must stay within
// ±`--tolerance` of its first sample and the handle count must not grow.
//   node --import tsx bench/long_run.ts [--steps 2000] [--every 100] [--warmup 500] [--json]
// test/reliability/long_run.test.ts runs a short version (digits, fewer steps, looser bound).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { makeConfig } from '../src/train/config.js';
import { train } from '../src/train/engine.js';
import { openTask } from '../src/train/task.js';
import { sourceWeights } from '../test/reliability/cli.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: 'fashion-mnist' },
    'per-class': { type: 'string', default: '320' },
    'batch-size': { type: 'string', default: '32' },
    method: { type: 'string', default: 'spottune' },
    steps: { type: 'string', default: '2000' },
    every: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '500' },
    'eval-every': { type: 'string', default: '5' },
    tolerance: { type: 'string', default: '0.10' },
    json: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);
const warmup = Number(values.warmup);
const tolerance = Number(values.tolerance);
const batchSize = Number(values['batch-size']);
// 0: the whole training set.
const perClass = Number(values['per-class']) || undefined;

const dir = mkdtempSync(join(tmpdir(), 'spottune-long-run-'));
const weights = sourceWeights(dir);
const trainImages = openTask({ data: values.data, perClass, seed: 0 }).train.length;
const perEpoch = Math.floor(trainImages / batchSize);
const epochs = Math.ceil(steps / perEpoch);
const config = makeConfig({
  method: values.method, arch: 'resnet26', width: 0.25, weights, data: values.data, perClass, batchSize, epochs,
  lr: 0.05, schedule: 'constant', evalEvery: Number(values['eval-every']), seed: 0,
});

interface Sample {
  step: number;
  rssMB: number;
  heapMB: number;
  tensors: number;
  allocatorMB: number;
}
const samples: Sample[] = [];
const mb = (n: number) => n / 2 ** 20;
let step = 0;
const t0 = performance.now();
await train(config, join(dir, 'run'), {
  callbacks: {
    onBatchEnd: () => {
      step++;
      if (step % every !== 0 || step > steps) return;
      const m = torch.memory();
      const s = { step, rssMB: mb(process.memoryUsage.rss()), heapMB: mb(process.memoryUsage().heapUsed), tensors: m.tensors, allocatorMB: mb(m.bytes + m.cachedBytes) };
      samples.push(s);
      if (!values.json) console.log(`step ${String(step).padStart(5)}: RSS ${s.rssMB.toFixed(1)} MB, JS heap ${s.heapMB.toFixed(1)} MB, ${s.tensors} tensors, allocator ${s.allocatorMB.toFixed(1)} MB`);
    },
  },
});
const seconds = (performance.now() - t0) / 1000;
rmSync(dir, { recursive: true, force: true });

const after = samples.filter((s) => s.step > warmup);
const ref = after[0];
const spread = (key: 'rssMB' | 'heapMB' | 'allocatorMB') => Math.max(...after.map((s) => Math.abs(s[key] / ref[key] - 1)));
const summary = {
  steps: step, epochs, trainImages, batchSize, seconds, warmup,
  rssAfterWarmupMB: ref.rssMB, rssMaxDeviation: spread('rssMB'), rssFirstMB: samples[0].rssMB, rssLastMB: samples[samples.length - 1].rssMB,
  heapMaxDeviation: spread('heapMB'), tensorsAfterWarmup: [...new Set(after.map((s) => s.tensors))],
  ok: spread('rssMB') <= tolerance && new Set(after.map((s) => s.tensors)).size === 1,
  samples,
};
if (values.json) console.log(JSON.stringify(summary));
else {
  console.log(`\n${step} steps (${epochs} epochs of ${perEpoch}, batch ${batchSize}, ${values.method}) in ${seconds.toFixed(0)} s`);
  console.log(`RSS after ${warmup} warm-up steps: ${ref.rssMB.toFixed(1)} MB; largest deviation after: ${(100 * summary.rssMaxDeviation).toFixed(1)}% (bound ±${100 * tolerance}%)`);
  console.log(`live tensor handles after warm-up: ${summary.tensorsAfterWarmup.join(', ')}`);
  console.log(summary.ok ? 'OK' : 'FAILED');
}
process.exit(summary.ok ? 0 : 1);
