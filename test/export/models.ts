// Models and images shared by the export tests: 100 real Fashion-MNIST test images, networks
// with random weights and random batch-norm statistics and affine parameters (not the
// identity of a fresh layer), and a SpotTune policy whose biases make the images disagree.
import * as torch from '../../src/torch/index.js';
import { BatchNorm2d, type Module } from '../../src/nn/index.js';
import { Agent, resnet26, type Backbone } from '../../src/models/index.js';
import { DataLoader } from '../../src/data/index.js';
import { openTask } from '../../src/train/task.js';
import { SpotTuneModel, TwoBranchNet, type EvalRouting } from '../../src/spottune/index.js';
import type { ImageBatch } from '../../src/export/verify.js';

async function loadImages(): Promise<ImageBatch[]> {
  const task = openTask({ data: 'fashion-mnist', seed: 0 });
  const out: ImageBatch[] = [];
  for await (const b of new DataLoader(task.test, task.evalTransform, { batchSize: 50 }).epoch(0)) {
    out.push({ x: b.x, shape: b.shape });
    if (out.length === 2) break;
  }
  return out;
}
let grey: Promise<ImageBatch[]> | undefined;

/** 100 real test images, normalised as the models see them, in batches of 50 (grey, or grey copied to RGB). */
export async function images(channels: 1 | 3): Promise<ImageBatch[]> {
  const batches = await (grey ??= loadImages());
  if (channels === 1) return batches;
  return batches.map((b) => {
    const [n, , h, w] = b.shape;
    return torch.tidy(() => ({ x: torch.tensor(b.x, { shape: [...b.shape] }).expand(n, 3, h, w).contiguous().data() as Float32Array, shape: [n, 3, h, w] as const }));
  });
}

/** Random batch-norm statistics and affine parameters in every BatchNorm2d of m. */
export function randomBatchNorms(m: Module<any[], unknown>): void {
  torch.noGrad(() => {
    for (const bn of m.modules()) {
      if (!(bn instanceof BatchNorm2d)) continue;
      const c = [bn.numFeatures];
      bn.runningMean!.copy_(torch.rand(c).sub(0.5).mul(0.4));
      bn.runningVar!.copy_(torch.rand(c).mul(1.5).add(0.5));
      bn.weight!.copy_(torch.rand(c).add(0.5));
      bn.bias!.copy_(torch.rand(c).sub(0.5).mul(0.4));
    }
  });
}

export function randomNet(make: () => Backbone): Backbone {
  const net = make();
  randomBatchNorms(net);
  return net;
}

/**
 * Sets the policy's output biases so that, per block, half of these images choose the
 * fine-tuned branch: the threshold sits in the widest gap of the middle of the sorted logit
 * differences, so rounding differences cannot flip a decision.
 */
function splitPolicy(agent: Agent, batches: ImageBatch[]): void {
  torch.noGrad(() => {
    agent.eval();
    agent.fc.bias!.zero_();
    const L = agent.numBlocks;
    const logits = torch.tidy(() => torch.cat(batches.map((b) => agent.forward(torch.tensor(b.x, { shape: [...b.shape] }))), 0).toArray());
    const n = logits.length / (2 * L);
    const bias = new Float32Array(2 * L);
    for (let l = 0; l < L; l++) {
      const diffs = Array.from({ length: n }, (_, i) => logits[(i * L + l) * 2 + 1] - logits[(i * L + l) * 2]).sort((a, b) => a - b);
      let best = Math.floor(n / 2);
      for (let k = Math.floor(0.3 * n); k < Math.floor(0.7 * n); k++) if (diffs[k + 1] - diffs[k] > diffs[best + 1] - diffs[best]) best = k;
      bias[2 * l + 1] = -(diffs[best] + diffs[best + 1]) / 2;
    }
    agent.fc.bias!.copy_(torch.tensor(bias));
  });
}

/** A SpotTune model on a ResNet-26 (width 0.25, grey): the two branches differ, the policy splits the images. */
export function spotTune(batches: ImageBatch[], routing: EvalRouting, agentInputSize?: number): SpotTuneModel {
  torch.manualSeed(3);
  const small = () => resnet26({ numClasses: 10, inChannels: 1, width: 0.25 });
  const net = new TwoBranchNet(randomNet(small), randomNet(small));
  const agent = new Agent({ numBlocks: net.numBlocks, inChannels: 1, width: 0.25, inputSize: agentInputSize });
  randomBatchNorms(agent);
  splitPolicy(agent, batches);
  const model = new SpotTuneModel(net, { kind: 'agent', agent }, { tau: 5, evalRouting: routing });
  model.setTraining(false);
  return model;
}
