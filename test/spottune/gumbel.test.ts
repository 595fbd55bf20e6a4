// The Gumbel sampler's contract beyond its numbers (those are pinned by the oracle and the
// gradient checks): refused inputs, mixed precision, the one-hot width, the temperature schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { gumbelNoise, gumbelSoftmax, gumbelSoftmaxHard, temperature } from '../../src/spottune/index.js';

test('uniform draws of another shape than the logits, and τ ≤ 0, are refused by name', () => {
  torch.tidy(() => {
    assert.throws(() => gumbelNoise(torch.zeros([2, 3, 2]), torch.rand([2, 2, 2])), /^Error: gumbel noise: uniform draws of shape \[2, 2, 2\] for logits of shape \[2, 3, 2\]$/);
    for (const tau of [0, -1, NaN]) {
      assert.throws(() => gumbelSoftmax(torch.zeros([1, 2]), tau), new RangeError(`gumbel-softmax temperature must be > 0, got ${tau}`));
      assert.throws(() => gumbelSoftmaxHard(torch.zeros([1, 2]), tau), RangeError);
    }
  });
});

test('half-precision logits are sampled in float32: decisions exactly 0/1', () => {
  torch.tidy(() => {
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const y = gumbelSoftmaxHard(torch.randn([6, 4, 2]).to(dtype), 5);
      assert.equal(y.dtype, 'float32', dtype);
      assert.deepEqual([...new Set(y.toArray())].sort(), [0, 1]);
    }
  });
});

test('the one-hot has one column per option even when every sample picks the first', () => {
  torch.tidy(() => {
    const logits = torch.tensor([[[30, -30]], [[30, -30]]]);
    const y = gumbelSoftmaxHard(logits, 1, torch.full([2, 1, 2], 0.5));
    assert.deepEqual([...y.shape], [2, 1, 2]);
    assert.deepEqual(y.toArray(), [1, 0, 1, 0]);
  });
});

test('temperature: fixed, or τ·exp(−rate·epoch) down to the minimum', () => {
  assert.equal(temperature(7, 5), 5);
  assert.ok(Math.abs(temperature(2, 5, { rate: 0.5, min: 1 }) - 5 * Math.exp(-1)) < 1e-12);
  assert.equal(temperature(0, 5, { rate: 0.5, min: 1 }), 5);
  assert.equal(temperature(10, 5, { rate: 0.5, min: 1 }), 1);
});
