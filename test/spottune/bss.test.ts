// Batch Spectral Shrinkage: the penalty against TLlib's formula run in PyTorch
// (torch.svd of Fᵀ, the k smallest singular values squared), its gradient against finite
// differences, and the model's regulariser against the penalty of its own features.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { gradcheck } from '../../src/torch/gradcheck.js';
import { resnet26 } from '../../src/models/index.js';
import { batchSpectralShrinkage, bssModel } from '../../src/spottune/index.js';
import { pytorch, values } from './reference.js';

const [B, D] = [6, 4];
const F = values(B * D);

test('σ₋₁² and σ₋₁² + σ₋₂² of a 6×4 feature matrix equal TLlib\'s BatchSpectralShrinkage in PyTorch', () => {
  const expected = pytorch(`
f = torch.tensor(data, dtype=torch.float64).reshape(${B}, ${D})
u, s, v = torch.svd(f.t())
n = s.size(0)
print(json.dumps([sum(float(s[n - 1 - i]) ** 2 for i in range(k)) for k in (1, 2, 4)]))`, F);
  torch.tidy(() => {
    const x = torch.tensor(Float64Array.from(F), { shape: [B, D] });
    const got = [1, 2, 4].map((k) => batchSpectralShrinkage(x, k).item());
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) < 1e-12 * Math.max(1, expected[i]), `k=${[1, 2, 4][i]}: ${g} vs ${expected[i]}`));
    // k = min(B, D) takes every singular value: Σσ² = ‖F‖²_F.
    assert.ok(Math.abs(got[2] - x.square().sum().item()) < 1e-12);
  });
});

test('the penalty\'s gradient matches finite differences (distinct singular values)', () => {
  for (const k of [1, 2]) {
    const r = gradcheck((x) => batchSpectralShrinkage(x, k), [torch.tensor(Float64Array.from(F), { shape: [B, D] })]);
    assert.ok(r.ok, `k=${k}: ${r.failure}`);
  }
});

test('k outside [1, min(batch, dim)] is refused', () => {
  torch.tidy(() => {
    const x = torch.tensor(Float64Array.from(F), { shape: [B, D] });
    assert.throws(() => batchSpectralShrinkage(x, 5), /k must be an integer in \[1, 4\]/);
    assert.throws(() => batchSpectralShrinkage(x, 0), /k must be an integer/);
  });
});

test('bss: the regulariser is η times the penalty of the batch\'s pooled features; k is capped by a small batch', () => {
  torch.manualSeed(2);
  const model = bssModel(resnet26({ numClasses: 5, inChannels: 1, width: 0.25 }), { k: 3, eta: 0.001 });
  model.setTraining(true);
  torch.tidy(() => {
    const x = torch.randn([8, 1, 28, 28]);
    const out = model.forwardTrain(x);
    assert.deepEqual(out.features.shape, [8, 64]);
    // The logits are the classifier applied to exactly these features.
    assert.deepEqual(out.logits.data(), model.module.fc.forward(out.features).data());
    const reg = model.regularizer(out, torch.zeros([8]).long())!.item();
    assert.ok(Math.abs(reg - 0.001 * batchSpectralShrinkage(out.features, 3).item()) < 1e-9);
    const two = model.forwardTrain(x.narrow(0, 0, 2));
    assert.ok(Math.abs(model.regularizer(two, torch.zeros([2]).long())!.item() - 0.001 * batchSpectralShrinkage(two.features, 2).item()) < 1e-9);
  });
  model.dispose();
});
