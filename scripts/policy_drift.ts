// How far SpotTune's policy network moved in training. For each run folder: its policy logits
// on the run's labelled training images (no augmentation, batch statistics over all of them, as
// in training) at initialisation (the run's config rebuilt with its seed, as `train` builds it)
// and after the last epoch, as d = logit(fine-tuned) − logit(frozen) per image and block.
//   node --import tsx scripts/policy_drift.ts <run folder>...
// Prints per run: mean |d| before and after, mean |d_after − d_before|, their correlation over
// (image, block), the blocks whose majority argmax decision changed, and the relative change of
// the policy network's weights.
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { DataLoader } from '../src/data/index.js';
import { batchTensors, buildRun, loadRun } from '../src/train/index.js';
import { readConfigFile } from '../src/train/config.js';
import type { SpotTuneModel } from '../src/spottune/spottune_model.js';

/** d = logit(fine-tuned) − logit(frozen), [images × blocks] flattened, and the policy's weights. */
function policyOf(model: SpotTuneModel, x: Tensor): { d: number[]; weights: Tensor[] } {
  model.setTraining(true);
  const d = torch.noGrad(() => {
    const l = model.policyLogits(x);
    return l.select(2, 1).sub(l.select(2, 0)).toArray();
  });
  const weights = model.module.namedParameters().filter(([name]) => name.startsWith('agent.')).map(([, p]) => p.detach().clone());
  return { d, weights };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

console.log('| run | mean abs d (init) | mean abs d (last) | mean abs change | correlation | blocks whose majority flipped | weight change |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const dir of process.argv.slice(2)) {
  const config = readConfigFile(join(dir, 'config.json'));
  const init = buildRun(config);
  const last = loadRun(dir, { checkpoint: 'last' });
  const L = last.model.numBlocks;
  const loader = new DataLoader(last.task.train, last.task.evalTransform, { batchSize: 100000 });
  let x: Tensor | undefined;
  for await (const batch of loader.epoch(0)) x = batchTensors(batch).x;
  if (!x) throw new Error(`${dir}: no training images`);
  const a = policyOf(init.model as SpotTuneModel, x);
  const b = policyOf(last.model as SpotTuneModel, x);
  const n = a.d.length;
  const ma = mean(a.d);
  const mb = mean(b.d);
  const cov = mean(a.d.map((v, i) => (v - ma) * (b.d[i] - mb)));
  const sd = (v: number[], m: number) => Math.sqrt(mean(v.map((u) => (u - m) ** 2)));
  const corr = cov / (sd(a.d, ma) * sd(b.d, mb));
  const flipped: number[] = [];
  for (let l = 0; l < L; l++) {
    const ups = (d: number[]) => d.filter((_, i) => i % L === l && d[i] > 0).length;
    if (2 * ups(a.d) >= n / L !== 2 * ups(b.d) >= n / L) flipped.push(l + 1);
  }
  const dw = Math.sqrt(a.weights.reduce((s, w, i) => s + b.weights[i].sub(w).pow(2).sum().item(), 0));
  const w0 = Math.sqrt(a.weights.reduce((s, w) => s + w.pow(2).sum().item(), 0));
  const f = (v: number) => v.toFixed(3);
  console.log(`| ${dir} | ${f(mean(a.d.map(Math.abs)))} | ${f(mean(b.d.map(Math.abs)))} | ${f(mean(a.d.map((v, i) => Math.abs(b.d[i] - v))))} | ${corr.toFixed(2)} | ${flipped.join(', ') || 'none'} | ${(100 * dw / w0).toFixed(1)}% |`);
  init.model.dispose();
  last.model.dispose();
}
