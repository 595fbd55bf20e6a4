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

test('SGD with momentum: the one-pass update in the addon equals PyTorch\'s four operations bit for bit', () => {
  torch.tidy(() => {
    torch.manualSeed(4);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [weightDecay, dampening, nesterov] of [[5e-4, 0, false], [0, 0.1, false], [1e-3, 0, true]] as const) {
        // 100003 elements: split across threads, with a tail that is not a multiple of the vector width.
        const start = torch.randn([100003], { dtype });
        const grads = [torch.randn([100003], { dtype }), torch.randn([100003], { dtype })];
        const p = start.clone().requiresGrad_(true);
        const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9, weightDecay, dampening, nesterov });
        // By hand, as torch.optim.SGD (1.13, foreach=False) does it.
        const q = start.clone();
        let buf: torch.Tensor | undefined;
        for (const g of grads) {
          p.grad = g;
          opt.step();
          let d = weightDecay ? g.add(q, weightDecay) : g;
          if (buf === undefined) buf = d.clone();
          else buf.mul_(0.9).add_(d, 1 - dampening);
          d = nesterov ? d.add(buf, 0.9) : buf;
          q.add_(d, -0.1);
        }
        assert.equal(p.detach().sub(q).abs().max().item(), 0, `${dtype} weightDecay ${weightDecay} dampening ${dampening} nesterov ${nesterov}`);
      }
    }
  });
});

test('SGD with momentum on a non-contiguous parameter takes the four-operation path', () => {
  torch.tidy(() => {
    const p = torch.randn([6, 4]).T.requiresGrad_(true);
    assert.equal(p.isContiguous, false);
    const start = p.detach().clone();
    const opt = new optim.SGD([p], { lr: 0.5, momentum: 0.5 });
    for (let i = 0; i < 2; i++) {
      p.grad = torch.onesLike(p);
      opt.step();
    }
    // buf: 1, then 1.5; p: start − 0.5 − 0.75
    assert.ok(p.detach().sub(start.sub(1.25)).abs().max().item() < 1e-6);
  });
});
