// Exact resume: 5 steps, save optimizer and scheduler state, load into fresh ones, 5 more
// steps == 10 uninterrupted steps, bit for bit. Plus the state dict's checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import * as optim from '../../src/optim/index.js';
import { cases, Problem } from './cases.js';

for (const [name, make] of Object.entries(cases)) {
  for (const schedulerFirst of [false, true]) {
    test(`${name}: 5 steps + save/load + 5 steps == 10 steps (${schedulerFirst ? 'scheduler' : 'optimizer'} loaded first)`, () => {
      const straight = new Problem();
      const [opt, sched] = make(straight.W, straight.b);
      for (let i = 0; i < 10; i++) straight.step(opt, sched);

      const first = new Problem();
      const [opt1, sched1] = make(first.W, first.b);
      for (let i = 0; i < 5; i++) first.step(opt1, sched1);

      const resumed = new Problem();
      torch.noGrad(() => {
        resumed.W.copy_(first.W);
        resumed.b.copy_(first.b);
      });
      const [opt2, sched2] = make(resumed.W, resumed.b);
      torch.tidy(() => {
        const optState = opt1.stateDict();
        const schedState = JSON.parse(JSON.stringify(sched1.stateDict())) as optim.SchedulerState;
        if (schedulerFirst) sched2.loadStateDict(schedState);
        opt2.loadStateDict(optState);
        if (!schedulerFirst) sched2.loadStateDict(schedState);
      });
      opt1.dispose(); // the loaded state is a copy
      for (let i = 0; i < 5; i++) resumed.step(opt2, sched2);

      assert.deepEqual(resumed.params(), straight.params());
      assert.deepEqual(sched2.getLastLr(), sched.getLastLr());
      assert.deepEqual(opt2.paramGroups.map(({ params, ...h }) => h), opt.paramGroups.map(({ params, ...h }) => h));
      for (const o of [opt, opt2]) o.dispose();
      for (const p of [straight, first, resumed]) p.dispose();
    });
  }
}

test('stateDict layout: state by parameter index across groups, hyper-parameters per group', () => {
  const pb = new Problem();
  const opt = new optim.SGD([{ params: [pb.W] }, { params: [pb.b], lr: 0.5 }], { lr: 0.1, momentum: 0.9 });
  pb.step(opt, new optim.StepLR(opt, 10));
  torch.tidy(() => {
    const sd = opt.stateDict();
    assert.deepEqual([...sd.state.keys()], [0, 1]);
    assert.deepEqual(Object.keys(sd.state.get(1)!), ['momentumBuffer']);
    assert.deepEqual((sd.state.get(1)!.momentumBuffer as torch.Tensor).shape, [1]);
    assert.deepEqual(sd.paramGroups, [
      { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, initialLr: 0.1, params: [0] },
      { lr: 0.5, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, initialLr: 0.5, params: [1] },
    ]);
  });
  const adam = new optim.Adam([pb.W, pb.b]);
  pb.step(adam, new optim.StepLR(adam, 10));
  torch.tidy(() => {
    const s = adam.stateDict().state.get(0)!;
    assert.deepEqual(Object.keys(s), ['step', 'expAvg', 'expAvgSq']);
    assert.equal(s.step, 1);
  });
  opt.dispose();
  adam.dispose();
  pb.dispose();
});

test('loadStateDict rejects a state that does not fit, naming what differs', () => {
  const pb = new Problem();
  const sgd = new optim.SGD([pb.W, pb.b], { lr: 0.1, momentum: 0.9 });
  const adam = new optim.Adam([pb.W, pb.b]);
  const split = new optim.SGD([{ params: [pb.W] }, { params: [pb.b] }], { lr: 0.1 });
  pb.step(sgd, new optim.StepLR(sgd, 10));
  torch.tidy(() => {
    const sd = sgd.stateDict();
    assert.throws(() => adam.loadStateDict(sd), /Adam\.loadStateDict: parameter group 0 has unknown field "momentum"/);
    assert.throws(() => split.loadStateDict(sd), /the state has 1 parameter groups, this optimizer 2/);
    const bad = sgd.stateDict();
    bad.state.set(1, { momentumBuffer: torch.zeros([3], { dtype: 'float64' }) });
    assert.throws(() => sgd.loadStateDict(bad), /state "momentumBuffer" of parameter 1 has shape \[3\], the parameter \[1\]/);
    const short = { state: new Map(), paramGroups: [{ ...sd.paramGroups[0], params: [0] }] };
    assert.throws(() => sgd.loadStateDict(short), /parameter group 0 has 1 parameters in the state, 2 here/);
  });
  for (const o of [sgd, adam, split]) o.dispose();
  pb.dispose();
});

test('scheduler loadStateDict checks the number of groups', () => {
  const pb = new Problem();
  const one = new optim.SGD([pb.W, pb.b], { lr: 0.1 });
  const two = new optim.SGD([{ params: [pb.W] }, { params: [pb.b] }], { lr: 0.1 });
  const s1 = new optim.StepLR(one, 2);
  const s2 = new optim.StepLR(two, 2);
  assert.throws(() => s2.loadStateDict(s1.stateDict()), /StepLR\.loadStateDict: expected baseLrs and lastLr for 2 parameter groups, got 1 and 1/);
  const seq = new optim.SequentialLR(two, [s2, new optim.StepLR(two, 3)], [4]);
  assert.throws(() => seq.loadStateDict(s2.stateDict()), /expected the states of 2 schedulers, got none/);
  pb.dispose();
});
