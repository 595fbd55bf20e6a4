// Optimizer construction, groups, gradients and skipping of frozen parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';

const param = (values: number[]) => torch.tensor(values, { dtype: 'float64', requiresGrad: true });

test('groups take the defaults for what they leave out', () => {
  const a = param([1]);
  const b = param([2]);
  const opt = new optim.AdamW([{ params: [a] }, { params: [b], lr: 0.5, betas: [0.5, 0.6] }], { lr: 0.1 });
  assert.deepEqual(opt.paramGroups.map(({ params, ...h }) => h), [
    { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false },
    { lr: 0.5, betas: [0.5, 0.6], eps: 1e-8, weightDecay: 1e-2, amsgrad: false },
  ]);
  assert.notEqual(opt.paramGroups[0].betas, opt.defaults.betas, 'arrays are copied, not shared');
  const c = param([3]);
  opt.addParamGroup({ params: [c], weightDecay: 0 });
  assert.equal(opt.paramGroups[2].weightDecay, 0);
  assert.throws(() => opt.addParamGroup({ params: [a] }), /a parameter appears in more than one parameter group/);
  torch.dispose([a, b, c]);
});

test('invalid hyper-parameters are rejected by name', () => {
  const a = param([1]);
  assert.throws(() => new optim.SGD([a], { lr: -1 }), /SGD: invalid learning rate -1/);
  assert.throws(() => new optim.SGD([a], { lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0 and dampening 0/);
  assert.throws(() => new optim.Adam([a], { betas: [0.9, 1] }), /Adam: invalid beta at index 1: 1/);
  assert.throws(() => new optim.AdamW([a], { eps: -1 }), /AdamW: invalid eps -1/);
  assert.throws(() => new optim.SGD([], { lr: 0.1 }), /SGD: got an empty parameter list/);
  assert.throws(() => new optim.LinearLR(new optim.SGD([a], { lr: 0.1 }), 0), /startFactor must be in \(0, 1\], got 0/);
  a.dispose();
});

test('zeroGrad drops gradients; parameters without a gradient or frozen are left alone', () => {
  const a = param([1, 2]);
  const b = param([3]);
  const frozen = param([4]);
  const opt = new optim.SGD([a, b, frozen], { lr: 0.5, weightDecay: 0.1 });
  torch.tidy(() => a.mul(a).sum().add(frozen.sum()).backward());
  frozen.requiresGrad_(false); // frozen after its gradient was computed: still skipped
  opt.step();
  assert.deepEqual(a.toArray(), [1 - 0.5 * (2 + 0.1), 2 - 0.5 * (4 + 0.2)]);
  assert.deepEqual(b.toArray(), [3]);
  assert.deepEqual(frozen.toArray(), [4]);
  assert.equal(opt.state.size, 0, 'plain SGD keeps no state');
  opt.zeroGrad();
  assert.equal(a.grad, undefined);
  torch.dispose([a, b, frozen]);
});

test('SGD momentum buffer starts as a copy of the first gradient (no dampening on step 1)', () => {
  const a = param([1]);
  const opt = new optim.SGD([a], { lr: 1, momentum: 0.5, dampening: 0.5 });
  for (let i = 0; i < 2; i++) {
    opt.zeroGrad();
    torch.tidy(() => a.mul(2).sum().backward()); // gradient 2
    opt.step();
  }
  // buf = 2, then 0.5·2 + 0.5·2 = 2: a = 1 - 2 - 2
  assert.deepEqual(a.toArray(), [-3]);
  opt.dispose();
  a.dispose();
});

test('schedulers: warm-up then cosine reaches its minimum; StepLR and MultiStepLR decay', () => {
  const a = param([1]);
  const rates = (make: (o: optim.SGD) => optim.Scheduler, n: number) => {
    const opt = new optim.SGD([a], { lr: 1 });
    const s = make(opt);
    const out = [s.getLastLr()[0]];
    for (let i = 0; i < n; i++) {
      s.step();
      out.push(s.getLastLr()[0]);
    }
    return out.map((v) => Math.round(v * 1e9) / 1e9);
  };
  assert.deepEqual(rates((o) => new optim.StepLR(o, 2, 0.5), 5), [1, 1, 0.5, 0.5, 0.25, 0.25]);
  assert.deepEqual(rates((o) => new optim.MultiStepLR(o, [1, 3, 3], 0.1), 4), [1, 0.1, 0.1, 0.001, 0.001]);
  assert.deepEqual(rates((o) => new optim.LinearLR(o, 0.25, 1, 3), 4), [0.25, 0.5, 0.75, 1, 1]);
  assert.deepEqual(rates((o) => new optim.CosineAnnealingLR(o, 2, 0.1), 4), [1, 0.55, 0.1, 0.55, 1]);
  const seq = rates((o) => new optim.SequentialLR(o, [new optim.LinearLR(o, 0.5, 1, 2), new optim.CosineAnnealingLR(o, 2)], [2]), 4);
  assert.deepEqual(seq, [0.5, 0.75, 1, 0.5, 0]);
  a.dispose();
});
