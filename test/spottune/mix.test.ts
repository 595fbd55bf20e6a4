// torch.spotTuneMix (native/src/kernels/mix.cc on the CPU), the branch mixing: forward equals lerp, its one-pass
// backward equals autograd's lerp backward, in the channels-last fast case and otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

const mix = torch.spotTuneMix;
const maxDiff = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item() as number;

function compare(f0: Tensor, t0: Tensor, decisions: Tensor, what: string): void {
  const g = torch.randnLike(f0);
  const run = (fn: (f: Tensor, t: Tensor, m: Tensor) => Tensor) => {
    const f = f0.detach().requiresGrad_(true), t = t0.detach().requiresGrad_(true), d = decisions.detach().requiresGrad_(true);
    // m as SpotTune makes it: one column of the decisions, a strided [B, 1, 1, 1] view.
    const out = fn(f, t, d.select(1, 1).view(-1, 1, 1, 1));
    out.backward(g);
    return [out.detach(), f.grad!, t.grad!, d.grad!];
  };
  const ours = run(mix);
  const ref = run((f, t, m) => torch.lerp(f, t, m));
  ['output', 'frozen gradient', 'tuned gradient', 'decision gradient'].forEach((name, i) => {
    const scale = Math.max(1, ref[i].abs().max().item() as number);
    assert.ok(maxDiff(ours[i], ref[i]) <= 1e-5 * scale, `${what}: ${name} differs by ${maxDiff(ours[i], ref[i])}`);
  });
}

test('mix equals lerp, forward and backward: channels-last activations, hard and soft weights', () => {
  torch.tidy(() => {
    torch.manualSeed(6);
    for (const [b, c, h, w] of [[8, 16, 9, 9], [5, 64, 32, 32]]) {
      const f = torch.randn([b, c, h, w]).contiguous(torch.memoryFormat.channelsLast);
      const t = torch.randn([b, c, h, w]).contiguous(torch.memoryFormat.channelsLast);
      compare(f, t, torch.bernoulli(torch.full([b, 3], 0.5), 0.5), `${b}x${c}x${h}x${w} hard`);
      compare(f, t, torch.rand([b, 3]), `${b}x${c}x${h}x${w} soft`);
    }
  });
});

test('mix: other layouts and dtypes take the tensor-operation path, with the same results', () => {
  torch.tidy(() => {
    torch.manualSeed(7);
    const f = torch.randn([4, 8, 6, 6]), t = torch.randn([4, 8, 6, 6]);
    compare(f, t.contiguous(torch.memoryFormat.channelsLast), torch.rand([4, 3]), 'mixed layouts');
    compare(f.to('float64'), t.to('float64'), torch.rand([4, 3], { dtype: 'float64' }), 'float64');
  });
});
