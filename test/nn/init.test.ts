// Initialisation: bit-identical to PyTorch under the same seed (fixtures/nn/init.json), and
// statistical checks of each scheme's spread and bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
const { init } = nn;

const fx = JSON.parse(readFileSync(new URL('../../fixtures/nn/init.json', import.meta.url), 'utf8')) as {
  conv: { weight: number[]; bias: number[] };
  linear: { weight: number[]; bias: number[] };
  kaimingNormalFanOutRelu: number[];
};

test('default Conv2d and Linear init and kaiming_normal_ equal PyTorch\'s under the same seed', () => {
  torch.manualSeed(0);
  const conv = new nn.Conv2d(3, 4, 3);
  const linear = new nn.Linear(5, 2);
  torch.manualSeed(1);
  const k = init.kaimingNormal_(torch.empty([8, 4, 3, 3]), { mode: 'fan_out', nonlinearity: 'relu' });
  assert.deepEqual(conv.weight.toArray(), fx.conv.weight);
  assert.deepEqual(conv.bias!.toArray(), fx.conv.bias);
  assert.deepEqual(linear.weight.toArray(), fx.linear.weight);
  assert.deepEqual(linear.bias!.toArray(), fx.linear.bias);
  assert.deepEqual(k.toArray(), fx.kaimingNormalFanOutRelu);
  conv.dispose();
  linear.dispose();
  k.dispose();
});

function stats(t: torch.Tensor): { mean: number; std: number; min: number; max: number } {
  return torch.tidy(() => ({ mean: t.mean().item(), std: torch.std(t.double(), undefined, false).item(), min: t.min().item(), max: t.max().item() }));
}

test('kaiming normal: std = √2/√fan for ReLU, by fan_in or fan_out', () => {
  torch.manualSeed(2);
  torch.tidy(() => {
    // [out 256, in 64, 3, 3]: fan_in 576, fan_out 2304; 147,456 samples put the std within ~0.5%.
    const w = torch.empty([256, 64, 3, 3]);
    const out = stats(init.kaimingNormal_(w, { mode: 'fan_out', nonlinearity: 'relu' }));
    assert.ok(Math.abs(out.std / Math.sqrt(2 / 2304) - 1) < 0.01, `fan_out std ${out.std}`);
    assert.ok(Math.abs(out.mean) < 3 * out.std / Math.sqrt(w.numel));
    const inn = stats(init.kaimingNormal_(w, { nonlinearity: 'relu' }));
    assert.ok(Math.abs(inn.std / Math.sqrt(2 / 576) - 1) < 0.01, `fan_in std ${inn.std}`);
  });
});

test('uniform schemes stay inside their bounds and fill them', () => {
  torch.manualSeed(3);
  torch.tidy(() => {
    const w = torch.empty([128, 32, 3, 3]); // fan_in 288, fan_out 1152
    const check = (s: ReturnType<typeof stats>, bound: number, what: string) => {
      assert.ok(s.min >= -bound && s.max <= bound, `${what}: [${s.min}, ${s.max}] outside ±${bound}`);
      assert.ok(s.min < -0.99 * bound && s.max > 0.99 * bound, `${what}: does not reach ±${bound}`);
      assert.ok(Math.abs(s.std / (bound / Math.sqrt(3)) - 1) < 0.01, `${what}: std ${s.std}`);
    };
    check(stats(init.kaimingUniform_(w, { a: Math.sqrt(5) })), 1 / Math.sqrt(288), 'kaiming uniform a=√5');
    check(stats(init.kaimingUniform_(w, { nonlinearity: 'relu' })), Math.sqrt(6 / 288), 'kaiming uniform relu');
    check(stats(init.xavierUniform_(w, 2)), 2 * Math.sqrt(6 / (288 + 1152)), 'xavier uniform gain 2');
    check(stats(init.uniform_(w, -0.5, 0.5)), 0.5, 'uniform');
    const xn = stats(init.xavierNormal_(w));
    assert.ok(Math.abs(xn.std / Math.sqrt(2 / (288 + 1152)) - 1) < 0.01, `xavier normal std ${xn.std}`);
    const n = stats(init.normal_(w, 1, 0.1));
    assert.ok(Math.abs(n.mean - 1) < 0.001 && Math.abs(n.std - 0.1) < 0.001);
    assert.deepEqual([...new Set(init.constant_(torch.empty([5]), 0.25).toArray())], [0.25]);
    assert.deepEqual([...new Set(init.ones_(torch.empty([5])).toArray())], [1]);
    assert.deepEqual([...new Set(init.zeros_(torch.empty([5])).toArray())], [0]);
  });
});

test('gains and fans', () => {
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.equal(init.calculateGain('tanh'), 5 / 3);
  assert.equal(init.calculateGain('leaky_relu', 0.2), Math.sqrt(2 / 1.04));
  assert.deepEqual(torch.tidy(() => init.calculateFanInAndFanOut(torch.empty([6, 4, 3, 2]))), [24, 36]);
  assert.throws(() => torch.tidy(() => init.calculateFanInAndFanOut(torch.empty([6]))), /at least 2 dimensions, got shape \[6\]/);
});

test('init does not record gradients on parameters', () => {
  const p = new nn.Parameter(torch.tidy(() => torch.empty([4, 4])));
  init.kaimingUniform_(p);
  assert.ok(p.isLeaf && p.requiresGrad);
  p.dispose();
});
