// torch.autocast: libtorch's AutocastCPU dispatch key reached through the generic operator path.
// Values are pinned against the same operators called on explicitly cast operands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

const bf16 = <T>(fn: () => T): T => torch.autocast(fn, { device: 'cpu', dtype: 'bfloat16' });
const same = (a: Tensor, b: Tensor) => a.dtype === b.dtype && a.sub(b).abs().max().item() === 0;

test('autocast: convolutions and linear layers run in bfloat16 on cast operands, losses in float32', () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    const x = torch.randn([4, 16, 8, 8]), w = torch.randn([16, 16, 3, 3]), fw = torch.randn([5, 16]), fb = torch.randn([5]);
    // Padding 0: libtorch's convolution (the Winograd kernel's bfloat16 path: winograd_bf16.test.ts).
    const y = bf16(() => torch.conv2d(x, w, undefined, 1, 0));
    assert.equal(y.dtype, 'bfloat16');
    assert.ok(same(y, torch.conv2d(x.to('bfloat16'), w.to('bfloat16'), undefined, 1, 0)), 'conv2d: not the bfloat16 convolution of the cast operands');
    const feats = x.mean([2, 3]);
    const logits = bf16(() => torch.linear(feats, fw, fb));
    assert.ok(same(logits, torch.linear(feats.to('bfloat16'), fw.to('bfloat16'), fb.to('bfloat16'))), 'linear');
    const labels = torch.tensor([0, 1, 2, 3], { dtype: 'int64' });
    const loss = bf16(() => torch.crossEntropy(logits, labels));
    assert.equal(loss.dtype, 'float32');
    assert.ok(same(loss, torch.crossEntropy(logits.float(), labels)), 'cross-entropy runs in float32 on the upcast logits');
    // Elementwise operators keep their inputs' dtype.
    assert.equal(bf16(() => x.add(1)).dtype, 'float32');
  });
});

test('autocast: gradients of float32 leaves come back float32, equal to the explicit casts', () => {
  torch.tidy(() => {
    torch.manualSeed(2);
    const x = torch.randn([6, 8]), w0 = torch.randn([3, 8]);
    const w = w0.clone().requiresGrad_(true);
    bf16(() => torch.linear(x, w).float().square().sum()).backward();
    const ref = w0.clone().requiresGrad_(true);
    torch.linear(x.to('bfloat16'), ref.to('bfloat16')).float().square().sum().backward();
    assert.equal(w.grad!.dtype, 'float32');
    assert.ok(same(w.grad!, ref.grad!));
  });
});

test('autocast: scopes nest, restore the previous state, and end on a throw', () => {
  assert.equal(torch.autocastDtype('cpu'), undefined);
  bf16(() => {
    assert.equal(torch.autocastDtype('cpu'), 'bfloat16');
    torch.autocast(() => assert.equal(torch.autocastDtype('cpu'), undefined), { device: 'cpu', dtype: 'bfloat16', enabled: false });
    assert.equal(torch.autocastDtype('cpu'), 'bfloat16');
  });
  assert.throws(() => bf16(() => { throw new Error('inside'); }), /inside/);
  assert.equal(torch.autocastDtype('cpu'), undefined);
  assert.equal(torch.autocastDtype('cuda'), undefined);
  assert.throws(() => torch.autocast(() => 0, { device: 'mps', dtype: 'bfloat16' }), /cpu, cuda or cuda:N/);
  assert.throws(() => torch.autocast(() => 0, { device: 'cpu', dtype: 'float32' as 'bfloat16' }), /bfloat16 or float16/);
});

test('spotTuneMix under bfloat16: exact 0/1 weights cast to the branches, weight gradient back in float32', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const f = torch.randn([4, 8, 5, 5]).to('bfloat16'), t = torch.randn([4, 8, 5, 5]).to('bfloat16');
    const d = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]]).requiresGrad_(true);
    const out = torch.spotTuneMix(f, t, d.select(1, 0).view(-1, 1, 1, 1));
    assert.equal(out.dtype, 'bfloat16');
    const picked = [0, 1, 2, 3].map((i) => (i === 0 || i === 2 ? t : f).select(0, i));
    for (let i = 0; i < 4; i++) assert.ok(same(out.select(0, i), picked[i]), `image ${i} is not its chosen branch`);
    out.float().sum().backward();
    assert.equal(d.grad!.dtype, 'float32');
    const expect = t.float().sub(f.float()).sum([1, 2, 3]);
    const got = d.grad!.select(1, 0);
    assert.ok(got.sub(expect).abs().max().item() <= 0.02 * expect.abs().max().item(), 'Σ (tuned − frozen) per image');
    assert.ok(d.grad!.select(1, 1).abs().max().item() === 0);
    assert.throws(() => torch.spotTuneMix(f, t.float(), d.select(1, 0).view(-1, 1, 1, 1)), /different dtypes/);
  });
});
