// The policy options of the study (issue 21): the agent's initial bias, a warm-up with both
// branches mixed by the soft sample, averaged test routing, and the per-epoch policy statistics
// the engine writes to metrics.jsonl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { Agent, resnet26 } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet, gumbelSoftmax, gumbelSoftmaxHard, type SpotTuneModelOptions } from '../../src/spottune/index.js';
import { writeWeights } from '../../src/io/tensors.js';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';

const maxDiff = (a: Tensor, b: Tensor) => torch.tidy(() => a.sub(b).abs().max().item());

let agent: Agent;
function model(o: Partial<SpotTuneModelOptions> = {}): SpotTuneModel {
  const a = resnet26({ numClasses: 5, width: 0.25 });
  const b = resnet26({ numClasses: 5, width: 0.25 });
  torch.tidy(() => b.loadStateDict(a.stateDict()));
  const net = new TwoBranchNet(a, b, { frozenBn: 'train' });
  agent = new Agent({ numBlocks: net.numBlocks, width: 0.25 });
  return new SpotTuneModel(net, { kind: 'agent', agent }, { tau: 5, evalRouting: 'argmax', ...o });
}

test('agentBias: the policy starts at p(fine-tuned) = sigmoid(b) where its features add nothing', () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    const m = model({ agentBias: 3 });
    assert.deepEqual(agent.fc.bias!.toArray().slice(0, 4), [0, 3, 0, 3]);
    torch.noGrad(() => agent.fc.weight.fill_(0));
    m.setTraining(false);
    const logits = m.policyLogits(torch.randn([2, 3, 32, 32]));
    assert.ok(maxDiff(logits.select(2, 1).sub(logits.select(2, 0)), torch.full([2, 12], 3)) < 1e-6);
    m.dispose();
  });
});

test('warmupMixed: soft-sample weights during the warm-up epochs, hard decisions after', () => {
  torch.tidy(() => {
    torch.manualSeed(2);
    const m = model({ warmupMixed: 1, tau: 5 });
    const x = torch.randn([4, 3, 32, 32]);
    m.setTraining(true);
    m.startEpoch(0);
    torch.manualSeed(7);
    const out = m.forwardTrain(x);
    torch.manualSeed(7);
    const expected = gumbelSoftmax(m.policyLogits(x), 5).select(2, 1);
    assert.ok(maxDiff(out.decisions, expected) < 1e-6);
    const d = out.decisions.toArray();
    assert.ok(d.every((v) => v > 0 && v < 1), 'soft weights, strictly inside (0, 1)');
    m.startEpoch(1);
    assert.ok(m.forwardTrain(x).decisions.toArray().every((v) => v === 0 || v === 1));
    m.dispose();
  });
});

test("evalRouting 'average': log of the mean class probabilities of evalSamples sampled routings", () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const m = model({ evalRouting: 'average', evalSamples: 4 });
    const x = torch.randn([3, 3, 32, 32]);
    m.setTraining(false);
    torch.manualSeed(9);
    const out = m.forwardEval(x);
    torch.manualSeed(9);
    torch.noGrad(() => {
      const logits = m.policyLogits(x);
      let p = torch.zeros([3, 5]);
      let decisions = torch.zeros([3, 12]);
      for (let s = 0; s < 4; s++) {
        const d = gumbelSoftmaxHard(logits, 5).select(2, 1);
        p = p.add(m.module.forward(x, d).softmax(1));
        decisions = decisions.add(d);
      }
      assert.ok(maxDiff(out.logits, p.div(4).log()) < 1e-5);
      assert.ok(maxDiff(out.decisions, decisions.div(4)) < 1e-6);
      assert.ok(maxDiff(out.policyLogits!, logits) === 0);
    });
    m.dispose();
  });
});

test('a SpotTune run writes the policy statistics per epoch; at test they agree with the block frequencies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-policy-'));
  try {
    const weights = join(dir, 'source.safetensors');
    torch.tidy(() => {
      torch.manualSeed(5);
      writeWeights(weights, resnet26({ numClasses: 10, inChannels: 1, width: 0.25 }).stateDict());
    });
    const config = makeConfig({ method: 'spottune', arch: 'resnet26', width: 0.25, weights, data: 'digits', perClass: 4, epochs: 2, batchSize: 20, lr: 0.05, agentWidth: 0.25 });
    await train(config, join(dir, 'run'));
    const metrics = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(metrics.length, 2);
    for (const m of metrics) {
      assert.equal(m.policy.train.images, 40);
      assert.ok(m.policy.train.sampleAgreement > 0 && m.policy.train.sampleAgreement <= 1);
      assert.ok(m.policy.train.entropy > 0 && m.policy.train.entropy <= 1);
      // Argmax routing at test: the statistics' argmax frequencies are the engine's block frequencies.
      assert.equal(m.policy.test.sampleAgreement, null);
      m.policy.test.argmaxFreq.forEach((f: number, l: number) => assert.ok(Math.abs(f - m.blockFreq[l]) < 1e-9, `block ${l}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
