// Policy statistics: values worked out by hand for a small set of logits, batching that does
// not change them, and the sampled routing's agreement with argmax measured on real
// Gumbel-softmax samples against its expectation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { PolicyStatsAccumulator, policyStats } from '../../src/spottune/policy_stats.js';
import { gumbelSoftmaxHard } from '../../src/spottune/gumbel.js';

const H = (p: number) => -(p * Math.log2(p) + (1 - p) * Math.log2(1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// 3 images × 2 blocks, [frozen, fine-tuned] logits.
const LOGITS = [
  [[0, Math.log(3)], [1, 0]],
  [[0, 2], [0, 0]],
  [[1, 0], [0, 3]],
];
// p(fine-tuned) of each (image, block), by hand: softmax of two logits is sigmoid(b − a).
const P = [3 / 4, 1 / (1 + Math.E), sigmoid(2), 0.5, 1 / (1 + Math.E), sigmoid(3)];
const SAMPLED = [[1, 1], [0, 0], [0, 1]];

test('entropy, majority and agreement of a hand-worked policy', () => {
  torch.tidy(() => {
    const s = policyStats(torch.tensor(LOGITS.flat(2), { shape: [3, 2, 2] }), torch.tensor(SAMPLED.flat(), { shape: [3, 2] }));
    assert.equal(s.images, 3);
    assert.ok(Math.abs(s.entropy - P.reduce((a, p) => a + H(p), 0) / 6) < 1e-6, `entropy ${s.entropy}`);
    // argmax: [1, 0], [1, 0] (a tie goes to frozen), [0, 1]; majorities 1 and 0; image 2 is off in both blocks.
    assert.deepEqual(s.argmaxFreq, [2 / 3, 1 / 3]);
    assert.equal(s.offMajority, 2 / 6);
    assert.equal(s.imagesOffMajority, 1 / 3);
    assert.equal(s.sampleAgreement, 4 / 6);
  });
});

test('batches accumulate to the statistics of the whole; no samples gives null agreement', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const logits = torch.randn([10, 4, 2]).mul(2);
    const whole = policyStats(logits);
    const acc = new PolicyStatsAccumulator(4);
    acc.add(logits.narrow(0, 0, 3));
    acc.add(logits.narrow(0, 3, 7));
    const parts = acc.result();
    assert.equal(parts.sampleAgreement, null);
    assert.ok(Math.abs(parts.entropy - whole.entropy) < 1e-9);
    assert.deepEqual({ ...parts, entropy: 0 }, { ...whole, entropy: 0 });
    assert.throws(() => acc.add(torch.zeros([2, 3, 2])), /expected shape \[B, 4, 2\], got \[2, 3, 2\]/);
  });
});

test('Gumbel samples agree with argmax at rate mean(max(p, 1 − p)), whatever τ', () => {
  torch.tidy(() => {
    torch.manualSeed(11);
    const n = 20000;
    // One block, five kinds of images with p = sigmoid(d).
    const d = [-2, -0.5, 0, 1, 3];
    const logits = torch.tensor(Array.from({ length: n }, (_, i) => [0, d[i % 5]]).flat(), { shape: [n, 1, 2] });
    const expected = d.reduce((a, x) => a + Math.max(sigmoid(x), 1 - sigmoid(x)), 0) / 5;
    for (const tau of [0.5, 5]) {
      const sampled = gumbelSoftmaxHard(logits, tau).select(2, 1);
      const s = policyStats(logits, sampled);
      // Standard error ≈ sqrt(0.2/20000) ≈ 0.003.
      assert.ok(Math.abs((s.sampleAgreement as number) - expected) < 0.012, `τ = ${tau}: agreement ${s.sampleAgreement}, expected ${expected}`);
    }
  });
});
