// SGD, Adam and AdamW with their schedules follow PyTorch 1.13's trajectories
// (fixtures/optim/trajectories.json): parameters and learning rates after each of 10 steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { cases, fixture, Problem } from './cases.js';

// PyTorch runs the same ATen kernels; only JS's pow/cos may differ from C's in the last bit.
const TOL = 1e-12;

for (const [name, make] of Object.entries(cases)) {
  test(`${name} matches PyTorch for 10 steps`, () => {
    const expected = fixture.cases[name];
    assert.equal(expected.length, 10);
    const pb = new Problem();
    const [opt, sched] = make(pb.W, pb.b);
    expected.forEach((e, i) => {
      pb.step(opt, sched);
      const got = pb.params();
      for (let k = 0; k < 2; k++) {
        got[k].forEach((v, j) => assert.ok(Math.abs(v - e.params[k][j]) <= TOL, `step ${i + 1}, param ${k}[${j}]: ${v} vs PyTorch ${e.params[k][j]}`));
      }
      e.lr.forEach((lr, g) => assert.ok(Math.abs(sched.getLastLr()[g] - lr) <= TOL * lr, `step ${i + 1}, group ${g} lr: ${sched.getLastLr()[g]} vs PyTorch ${lr}`));
      assert.deepEqual(opt.paramGroups.map((g) => g.lr), sched.getLastLr());
    });
    opt.dispose();
    pb.dispose();
  });
}

test('optimizer steps leak no tensor handles', () => {
  for (const make of Object.values(cases)) {
    const pb = new Problem();
    const [opt, sched] = make(pb.W, pb.b);
    pb.step(opt, sched); // creates the optimizer state
    const start = torch.memory().tensors;
    for (let i = 0; i < 5; i++) pb.step(opt, sched);
    assert.equal(torch.memory().tensors, start);
    opt.dispose();
    pb.dispose();
  }
});
