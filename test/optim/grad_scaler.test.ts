// GradScaler: PyTorch's dynamic loss scaling (scale, unscale, skip and back off on Inf/NaN,
// grow after growthInterval good steps), its state across a resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { GradScaler, SGD } from '../../src/optim/index.js';

/** A parameter, its optimizer, and one backward of scale·loss with loss = Σ w·x (gradient x). */
function setup(momentum = 0.9) {
  const w = torch.keep(torch.tensor([1, 2, 3]).requiresGrad_(true));
  const opt = new SGD([w], { lr: 0.5, momentum, weightDecay: 0.1 });
  const backward = (scaler: GradScaler, x: number[]) => torch.tidy(() => {
    opt.zeroGrad();
    scaler.scale(w.mul(torch.tensor(x)).sum()).backward();
  });
  return { w, opt, backward };
}

test('GradScaler: the loss is scaled, gradients unscaled exactly before the step (weight decay sees true gradients)', () => {
  const { w, opt, backward } = setup();
  const scaler = new GradScaler({ initScale: 1024 });
  backward(scaler, [0.25, -1, 3]);
  assert.deepEqual(w.grad!.toArray(), [256, -1024, 3072]);
  scaler.unscale_(opt);
  assert.deepEqual(w.grad!.toArray(), [0.25, -1, 3]);
  assert.equal(scaler.step(opt), true);
  scaler.update();
  // SGD's first step: p − lr·(g + wd·p)
  const expect = [1, 2, 3].map((p, i) => Math.fround(p - 0.5 * Math.fround([0.25, -1, 3][i] + Math.fround(0.1 * p))));
  assert.deepEqual(w.toArray(), expect);
  assert.throws(() => scaler.update(), /no optimizer was unscaled/);
  backward(scaler, [1, 1, 1]);
  scaler.unscale_(opt);
  assert.throws(() => scaler.unscale_(opt), /already called/);
});

test('GradScaler: Inf/NaN gradients skip the step (parameters and momentum untouched) and halve the scale', () => {
  const { w, opt, backward } = setup();
  const scaler = new GradScaler({ initScale: 2 ** 10, growthInterval: 3 });
  backward(scaler, [1, 1, 1]);
  scaler.step(opt);
  scaler.update();
  const p = w.toArray(), buf = opt.state.get(w)!.momentumBuffer!.toArray();
  for (const bad of [Infinity, NaN, -Infinity]) {
    backward(scaler, [1, bad, 1]);
    assert.equal(scaler.step(opt), false);
    assert.equal(scaler.foundInf, true);
    scaler.update();
    assert.deepEqual(w.toArray(), p);
    assert.deepEqual(opt.state.get(w)!.momentumBuffer!.toArray(), buf);
  }
  assert.equal(scaler.getScale(), 2 ** 7);
  assert.equal(scaler.skippedSteps, 3);
  // A value that overflows only once scaled: 1e37 · 2^7 is beyond float32.
  backward(scaler, [1e37, 0, 0]);
  assert.equal(scaler.step(opt), false);
  scaler.update();
  assert.equal(scaler.getScale(), 2 ** 6);
});

test('GradScaler: the scale grows after growthInterval good steps in a row; a bad step restarts the count', () => {
  const { opt, backward } = setup(0);
  const scaler = new GradScaler({ initScale: 8, growthInterval: 3, growthFactor: 2, backoffFactor: 0.25 });
  const scales: number[] = [];
  for (const x of [1, 1, 1, 1, Infinity, 1, 1, 1, 1, 1, 1]) {
    backward(scaler, [x, 1, 1]);
    scaler.step(opt);
    scaler.update();
    scales.push(scaler.getScale());
  }
  assert.deepEqual(scales, [8, 8, 16, 16, 4, 4, 4, 8, 8, 8, 16]);
});

test('GradScaler: a resumed scaler (stateDict through JSON) continues exactly like the uninterrupted one', () => {
  const run = (resumeAt?: number) => {
    const { w, opt, backward } = setup();
    let scaler = new GradScaler({ initScale: 64, growthInterval: 2 });
    const trace: number[] = [];
    [1, Infinity, 1, 1, 1, NaN, 1, 1, 1].forEach((x, i) => {
      if (i === resumeAt) {
        const saved = JSON.parse(JSON.stringify(scaler.stateDict()));
        scaler = new GradScaler({ initScale: 1 });
        scaler.loadStateDict(saved);
      }
      backward(scaler, [x, 2, -1]);
      scaler.step(opt);
      scaler.update();
      trace.push(scaler.getScale(), ...w.toArray());
    });
    return trace;
  };
  const whole = run();
  for (const at of [1, 3, 4, 6]) assert.deepEqual(run(at), whole, `resumed before step ${at}`);
  assert.throws(() => new GradScaler().loadStateDict({ scale: 'x' } as never), /field 'scale' must be a finite number/);
});

test('GradScaler: disabled it is the identity (scale 1, every step taken); bad options are named', () => {
  const { w, opt, backward } = setup();
  const scaler = new GradScaler({ enabled: false });
  backward(scaler, [1, Infinity, 1]);
  assert.equal(scaler.getScale(), 1);
  assert.equal(scaler.step(opt), true);
  scaler.update();
  assert.equal(Number.isFinite(w.toArray()[1]), false);
  assert.throws(() => new GradScaler({ backoffFactor: 1 }), /backoffFactor must be in \(0, 1\)/);
  assert.throws(() => new GradScaler({ growthInterval: 0.5 }), /growthInterval must be a positive integer/);
  assert.throws(() => new GradScaler({ initScale: -1 }), /initScale must be a positive number/);
});
