// Layer behaviour beyond the PyTorch fixture: batch-norm options, dropout, shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';

const close = (a: number[], b: number[], tol = 1e-12) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol);

test('BatchNorm2d: running statistics move by momentum; eval uses them', () => {
  torch.manualSeed(0);
  const bn = new nn.BatchNorm2d(3, { dtype: 'float64', momentum: 0.25 });
  torch.tidy(() => {
    const x = torch.randn([4, 3, 2, 2], { dtype: 'float64' });
    bn.forward(x);
    const mean = x.mean([0, 2, 3]).toArray();
    const unbiasedVar = torch.variance(x, [0, 2, 3]).toArray();
    assert.ok(close(bn.runningMean!.toArray(), mean.map((m) => 0.25 * m)));
    assert.ok(close(bn.runningVar!.toArray(), unbiasedVar.map((v) => 0.75 + 0.25 * v)));
    assert.equal(bn.numBatchesTracked!.item(), 1);
    bn.eval();
    const y = bn.forward(x);
    const expected = x.sub(bn.runningMean!.view(1, 3, 1, 1)).div(bn.runningVar!.add(1e-5).sqrt().view(1, 3, 1, 1));
    assert.ok(close(y.toArray(), expected.toArray()));
    assert.equal(bn.numBatchesTracked!.item(), 1, 'eval does not count batches');
  });
  bn.dispose();
});

test('BatchNorm2d: momentum null is a cumulative average', () => {
  const bn = new nn.BatchNorm2d(1, { dtype: 'float64', momentum: null });
  torch.tidy(() => {
    bn.forward(torch.full([2, 1, 1, 1], 3, { dtype: 'float64' }));
    bn.forward(torch.full([2, 1, 1, 1], 5, { dtype: 'float64' }));
  });
  assert.deepEqual(bn.runningMean!.toArray(), [4]);
  assert.equal(bn.numBatchesTracked!.item(), 2);
  bn.dispose();
});

test('BatchNorm2d without running statistics or affine parameters', () => {
  const bn = new nn.BatchNorm2d(2, { trackRunningStats: false, affine: false });
  assert.equal(bn.parameters().length + bn.buffers().length, 0);
  bn.eval();
  const y = torch.tidy(() => bn.forward(torch.tensor([1, 3, 10, 30], { shape: [2, 2, 1, 1] })).toArray());
  assert.ok(close(y, [-1, -1, 1, 1], 1e-4), 'eval normalises with batch statistics');
  assert.throws(() => bn.forward(torch.zeros([2, 2])), /expected 4D input \[N, C, H, W\], got shape \[2, 2\]/);
});

test('Dropout: zeroes and rescales in training, identity in evaluation', () => {
  const d = new nn.Dropout(0.5);
  torch.tidy(() => {
    const y = d.forward(torch.ones([1000])).toArray();
    assert.ok(y.every((v) => v === 0 || v === 2));
    const kept = y.filter((v) => v === 2).length;
    assert.ok(kept > 400 && kept < 600, `kept ${kept} of 1000`);
    d.eval();
    assert.ok(d.forward(torch.ones([10])).toArray().every((v) => v === 1));
  });
  assert.throws(() => new nn.Dropout(1.5), /p must be in \[0, 1\], got 1\.5/);
});

test('layer output shapes', () => {
  torch.tidy(() => {
    const x = torch.randn([2, 4, 9, 9]);
    assert.deepEqual(new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1 }).forward(x).shape, [2, 6, 5, 5]);
    assert.deepEqual(new nn.Conv2d(4, 8, [1, 3], { groups: 2, bias: false }).forward(x).shape, [2, 8, 9, 7]);
    assert.deepEqual(new nn.MaxPool2d(3, { stride: 2, padding: 1 }).forward(x).shape, [2, 4, 5, 5]);
    assert.deepEqual(new nn.AvgPool2d(2, { ceilMode: true }).forward(x).shape, [2, 4, 5, 5]);
    assert.deepEqual(new nn.AdaptiveAvgPool2d(1).forward(x).shape, [2, 4, 1, 1]);
    assert.deepEqual(new nn.Flatten().forward(x).shape, [2, 324]);
    assert.deepEqual(new nn.Linear(9, 5).forward(x).shape, [2, 4, 9, 5]);
    assert.equal(new nn.Identity().forward(x), x);
    assert.deepEqual(new nn.ReLU().forward(torch.tensor([-1, 2])).toArray(), [0, 2]);
    const t = torch.tensor([-1, 2]);
    assert.equal(new nn.ReLU(true).forward(t), t);
    assert.deepEqual(t.toArray(), [0, 2]);
  });
  assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /inChannels \(3\) must be divisible by groups \(2\)/);
});
