// The weight EMA (timm's ModelEmaV2): values after k updates against the formula computed by
// hand in float32, integer buffers copied, swapping the averaged weights in and out, resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { BatchNorm2d, Linear, Sequential } from '../../src/nn/index.js';
import { ModelEma } from '../../src/optim/ema.js';

const f = Math.fround;

function model(): Sequential {
  torch.manualSeed(0);
  return new Sequential(new Linear(3, 2), new BatchNorm2d(2) as never);
}

/** Sets every float tensor of the state to a value that depends on the step (a stand-in for an optimizer step) and bumps the counter. */
function fakeStep(m: Sequential, k: number): void {
  torch.noGrad(() =>
    torch.tidy(() => {
      for (const [key, t] of m.stateDict()) {
        if (key.endsWith('num_batches_tracked')) t.add_(1);
        else t.copy_(torch.tensor(Float32Array.from({ length: t.numel }, (_, i) => Math.sin(i * 0.37 + k * 1.3 - 0.5)), { shape: t.shape }));
      }
    }),
  );
}

test('after k updates: e = decay·e + (1 − decay)·m in float32, step by step; integer buffers copied', () => {
  const m = model();
  const decay = 0.9;
  const ema = new ModelEma(m, decay);
  const expected = new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray() as number[]]));
  for (let k = 1; k <= 5; k++) {
    fakeStep(m, k);
    ema.update(m);
    for (const [key, t] of m.stateDict()) {
      const cur = t.toArray() as number[];
      const e = expected.get(key)!;
      if (key.endsWith('num_batches_tracked')) expected.set(key, cur);
      else expected.set(key, e.map((v, i) => f(f(v * f(decay)) + f(cur[i] * f(1 - decay)))));
    }
  }
  for (const [key, t] of ema.state) assert.deepEqual(t.toArray(), expected.get(key), key);
  assert.deepEqual(ema.state.get('1.num_batches_tracked')!.toArray(), [5]);
  ema.dispose();
  m.dispose();
});

test('a constant model: e_k = c + (e_0 − c)·decay^k', () => {
  const m = model();
  const e0 = new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray() as number[]]));
  const ema = new ModelEma(m, 0.75);
  fakeStep(m, 1);
  const c = new Map([...m.stateDict()].map(([k, t]) => [k, t.toArray() as number[]]));
  for (let k = 0; k < 8; k++) ema.update(m);
  const w = ema.state.get('0.weight')!.toArray() as number[];
  w.forEach((v, i) => {
    const want = c.get('0.weight')![i] + (e0.get('0.weight')![i] - c.get('0.weight')![i]) * 0.75 ** 8;
    assert.ok(Math.abs(v - want) < 1e-6, `${v} vs ${want}`);
  });
  ema.dispose();
  m.dispose();
});

test('withWeights runs with the average and restores the raw weights; load() restores a saved average', async () => {
  const m = model();
  const ema = new ModelEma(m, 0.5);
  const before = m.stateDict().get('0.weight')!.toArray();
  fakeStep(m, 2);
  ema.update(m);
  const raw = m.stateDict().get('0.weight')!.toArray();
  const seen = await ema.withWeights(m, async () => m.stateDict().get('0.weight')!.toArray());
  assert.deepEqual(seen, ema.state.get('0.weight')!.toArray());
  assert.notDeepEqual(seen, raw);
  assert.deepEqual(m.stateDict().get('0.weight')!.toArray(), raw);

  const other = new ModelEma(model(), 0.5);
  assert.deepEqual(other.state.get('0.weight')!.toArray(), before);
  other.load(ema.state);
  for (const [k, t] of other.state) assert.deepEqual(t.toArray(), ema.state.get(k)!.toArray());
  assert.throws(() => other.load(new Map()), /EMA state: expected the keys/);
  assert.throws(() => new ModelEma(m, 1), /decay must be in \[0, 1\)/);
  for (const x of [ema, other, m]) x.dispose();
});
