// SpotTune's own gradients against finite differences in float64 (torch.gradcheck): the soft
// Gumbel sample at several temperatures (and the straight-through sample, whose gradient is the
// soft one's), the branch mixing at fractional decisions, and the Global-k loss. The fused
// float32 mix kernel is checked by central differences too: it is linear in each branch and in m,
// so they are exact up to float32 rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { globalKLoss, gumbelSoftmax, gumbelSoftmaxHard } from '../../src/spottune/index.js';

const f64 = (shape: number[], lo = -1, hi = 1) => torch.rand(shape, { dtype: 'float64' }).mul(hi - lo).add(lo);

for (const tau of [0.5, 1, 2.5, 5]) {
  test(`gradcheck: soft Gumbel sample softmax((log α + G)/τ), τ = ${tau}`, () => {
    torch.tidy(() => {
      torch.manualSeed(11);
      const u = f64([3, 4, 2], 0.01, 0.99);
      const r = torch.gradcheck((logits) => gumbelSoftmax(logits, tau, u), [f64([3, 4, 2], -2, 2).requiresGrad_()]);
      assert.ok(r.ok, r.failure);
    });
  });
}

test('the straight-through sample has exactly the soft sample\'s gradient', () => {
  torch.tidy(() => {
    torch.manualSeed(12);
    const u = f64([5, 6, 2], 0.01, 0.99);
    const w = f64([5, 6, 2]);
    const grad = (fn: (l: torch.Tensor) => torch.Tensor) => {
      const logits = f64([5, 6, 2], -2, 2);
      torch.manualSeed(13);
      const l = torch.randLike(logits).requiresGrad_();
      fn(l).mul(w).sum().backward();
      return l.grad!;
    };
    for (const tau of [0.5, 5]) {
      const hard = grad((l) => gumbelSoftmaxHard(l, tau, u));
      const soft = grad((l) => gumbelSoftmax(l, tau, u));
      assert.equal(hard.sub(soft).abs().max().item(), 0, `τ = ${tau}`);
    }
  });
});

test('gradcheck: branch mixing (1 − m)·frozen + m·tuned at fractional m, all three gradients', () => {
  torch.tidy(() => {
    torch.manualSeed(14);
    const r = torch.gradcheck((f, t, d) => torch.spotTuneMix(f, t, d.view(-1, 1, 1, 1)), [f64([3, 2, 4, 4]).requiresGrad_(), f64([3, 2, 4, 4]).requiresGrad_(), f64([3], 0.1, 0.9).requiresGrad_()]);
    assert.ok(r.ok, r.failure);
  });
});

test('the fused float32 mix kernel (channels-last) against central differences, at fractional m', () => {
  torch.tidy(() => {
    torch.manualSeed(15);
    const cl = (t: torch.Tensor) => t.contiguous(torch.memoryFormat.channelsLast);
    const f = cl(torch.randn([4, 16, 5, 5])), t = cl(torch.randn([4, 16, 5, 5]));
    const d = torch.rand([4]).mul(0.8).add(0.1);
    const g = torch.randn([4, 16, 5, 5]);
    const loss = (ff: torch.Tensor, tt: torch.Tensor, dd: torch.Tensor) => torch.spotTuneMix(ff, tt, dd.view(-1, 1, 1, 1)).mul(g).sum();
    const [fv, tv, dv] = [f, t, d].map((x) => x.detach().requiresGrad_());
    loss(fv, tv, dv).backward();
    const eps = 1e-2;
    for (const [i, x] of [f, t, d].entries()) {
      const v = torch.randnLike(x);
      const numeric = torch.noGrad(() => {
        const plus = [f, t, d].map((y, j) => (j === i ? y.add(v.mul(eps)) : y));
        const minus = [f, t, d].map((y, j) => (j === i ? y.sub(v.mul(eps)) : y));
        return ((loss(plus[0], plus[1], plus[2]).item() as number) - (loss(minus[0], minus[1], minus[2]).item() as number)) / (2 * eps);
      });
      const analytic = [fv, tv, dv][i].grad!.mul(v).sum().item() as number;
      assert.ok(Math.abs(analytic - numeric) <= 2e-3 * Math.max(1, Math.abs(numeric)), `${['frozen', 'tuned', 'decision'][i]}: analytic ${analytic}, numeric ${numeric}`);
    }
  });
});

test('gradcheck: Global-k loss λ1·(Σ v − k)² − λ2·Σ v·log v at fractional decisions', () => {
  torch.tidy(() => {
    torch.manualSeed(16);
    for (const o of [{ k: 4, lambda1: 0.1, lambda2: 0.1 }, { k: 2.5, lambda1: 0.3, lambda2: 0.05 }]) {
      const r = torch.gradcheck((d) => globalKLoss(d, o), [f64([6, 8], 0.05, 0.95).requiresGrad_()]);
      assert.ok(r.ok, r.failure);
    }
    // and its value, by hand: v = (0.5, 0.25), k = 1
    const v = globalKLoss(torch.tensor([[1, 0], [0, 0.5]], { dtype: 'float64' }), { k: 1, lambda1: 2, lambda2: 3 }).item() as number;
    assert.ok(Math.abs(v - (2 * 0.25 ** 2 - 3 * (0.5 * Math.log(0.5) + 0.25 * Math.log(0.25)))) < 1e-12);
  });
});
