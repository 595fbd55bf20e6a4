import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

test('creation from typed arrays, nested arrays and factories, in every dtype', () => {
  torch.tidy(() => {
    const a = torch.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    assert.deepEqual([...a.shape], [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(torch.tensor([[1, 2], [3, 4]]).shape, [2, 2]);
    assert.equal(torch.tensor([true, false]).dtype, 'bool');
    for (const dtype of ['float32', 'float64', 'int64', 'int32', 'uint8', 'bool'] as const) {
      const t = torch.tensor([1, 0, 1], { dtype });
      assert.equal(t.dtype, dtype);
      assert.deepEqual(t.toArray(), [1, 0, 1]);
      assert.equal(t.to('float64').dtype, 'float64');
    }
    assert.ok(torch.tensor([1n, 2n, 3n] as unknown as number[], { dtype: 'int64' }).data() instanceof BigInt64Array);
    assert.deepEqual(torch.zeros([2, 2]).toArray(), [0, 0, 0, 0]);
    assert.deepEqual(torch.ones([3], { dtype: 'int32' }).toArray(), [1, 1, 1]);
    assert.deepEqual(torch.full([2], 7).toArray(), [7, 7]);
    assert.deepEqual(torch.arange(4).toArray(), [0, 1, 2, 3]);
    assert.equal(torch.arange(4).dtype, 'int64');
    assert.deepEqual(torch.eye(2).toArray(), [1, 0, 0, 1]);
    assert.deepEqual(torch.linspace(0, 1, 3).toArray(), [0, 0.5, 1]);
    const r = torch.randint(0, 5, [100]).toArray();
    assert.ok(r.every((v) => v >= 0 && v < 5 && Number.isInteger(v)));
    assert.deepEqual(torch.randperm(5).toArray().sort(), [0, 1, 2, 3, 4]);
    assert.throws(() => torch.tensor(new Float32Array(5), { shape: [2, 3] }), /5 elements|20 bytes/);
    assert.throws(() => torch.tensor([[1, 2], [3]]), /ragged/);
  });
});

test('views share memory; indexing, cat/stack/split', () => {
  torch.tidy(() => {
    const x = torch.arange(12).float().reshape(3, 4);
    const v = x.view(4, 3);
    v.mul_(2);
    assert.equal(x.toArray()[5], 10, 'in-place op through a view changes the base');
    assert.deepEqual(x.select(0, 1).toArray(), [8, 10, 12, 14]);
    assert.deepEqual(x.slice(1, 1, 3).toArray(), [2, 4, 10, 12, 18, 20]);
    assert.deepEqual(x.slice(1, -1).toArray(), [6, 14, 22]);
    assert.deepEqual(x.index([torch.tensor([2, 0], { dtype: 'int64' })]).shape, [2, 4]);
    assert.deepEqual(x.T.shape, [4, 3]);
    assert.equal(x.T.isContiguous, false);
    assert.equal(x.T.contiguous().isContiguous, true);
    assert.deepEqual(torch.cat([x, x], 0).shape, [6, 4]);
    assert.deepEqual(torch.stack([x, x], 1).shape, [3, 2, 4]);
    assert.deepEqual(x.split(1, 0).map((t) => t.shape[0]), [1, 1, 1]);
    assert.deepEqual(x.chunk(2, 1).map((t) => [...t.shape]), [[3, 2], [3, 2]]);
    assert.deepEqual(torch.flip(torch.tensor([1, 2, 3]), [0]).toArray(), [3, 2, 1]);
    const y = torch.zeros([3]);
    torch.indexPut_(y, [torch.tensor([0, 2], { dtype: 'int64' })], torch.tensor([5, 6]));
    assert.deepEqual(y.toArray(), [5, 0, 6]);
  });
});

test('elementwise math, comparisons, reductions, one_hot, where, argmax, topk', () => {
  torch.tidy(() => {
    const a = torch.tensor([1, -2, 3]);
    assert.deepEqual(a.add(1).toArray(), [2, -1, 4]);
    assert.deepEqual(a.mul(a).toArray(), [1, 4, 9]);
    assert.deepEqual(a.gt(0).toArray(), [1, 0, 1]);
    assert.deepEqual(a.abs().toArray(), [1, 2, 3]);
    assert.deepEqual(torch.where(a.gt(0), a, 0).toArray(), [1, 0, 3]);
    assert.equal(a.sum().item(), 2);
    assert.ok(Math.abs(a.mean().item() - 2 / 3) < 1e-6);
    assert.deepEqual(torch.max(torch.tensor([[1, 5], [7, 2]]), 1)[1].toArray(), [1, 0]);
    assert.deepEqual(torch.tensor([[1, 5], [7, 2]]).argmax(1).toArray(), [1, 0]);
    assert.deepEqual(torch.topk(torch.tensor([3, 1, 4, 1, 5]), 2)[0].toArray(), [5, 4]);
    assert.deepEqual(torch.oneHot(torch.tensor([0, 2], { dtype: 'int64' }), 3).toArray(), [1, 0, 0, 0, 0, 1]);
    assert.deepEqual(torch.tensor([1, 2]).mul(2).dtype, 'float32');
    assert.equal(torch.tensor([1, 2], { dtype: 'int64' }).mul(2).dtype, 'int64', 'Python rule: int tensor * whole number stays int');
    assert.equal(torch.tensor([1, 2], { dtype: 'int64' }).mul(0.5).dtype, 'float32');
    assert.deepEqual(torch.softmax(torch.tensor([0, 0]), 0).toArray(), [0.5, 0.5]);
    assert.deepEqual(torch.interpolate(torch.ones([1, 1, 2, 2]), { scaleFactor: 2 }).shape, [1, 1, 4, 4]);
  });
});

test('autograd: backward, grad accumulation, detach, noGrad, requiresGrad', () => {
  torch.tidy(() => {
    const x = torch.tensor([1, 2, 3], { requiresGrad: true });
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [4, 8, 12], 'gradients accumulate');
    x.grad = undefined;
    assert.equal(x.grad, undefined);
    const y = torch.noGrad(() => x.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(x.detach().requiresGrad, false);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() => torch.tensor([1, 2]).sum().backward(), /does not require grad/);
    assert.throws(() => torch.tensor([1], { dtype: 'int64', requiresGrad: true }), /floating-point/);
  });
});

test('manualSeed: the same seed gives the same numbers; RNG state restores exactly', () => {
  torch.tidy(() => {
    torch.manualSeed(42);
    const a = torch.randn([5]).toArray();
    const d1 = torch.dropout(torch.ones([8]), 0.5, true).toArray();
    torch.manualSeed(42);
    assert.deepEqual(torch.randn([5]).toArray(), a);
    assert.deepEqual(torch.dropout(torch.ones([8]), 0.5, true).toArray(), d1);
    const state = torch.getRngState();
    const next = torch.rand([4]).toArray();
    torch.rand([10]);
    torch.setRngState(state);
    assert.deepEqual(torch.rand([4]).toArray(), next);
  });
});

test('errors: wrong-shape conv2d throws libtorch message; disposed tensors and bad arguments throw', () => {
  torch.tidy(() => {
    const x = torch.randn([1, 3, 8, 8]);
    assert.throws(() => torch.conv2d(x, torch.randn([4, 5, 3, 3])), (e: Error) => e instanceof Error && /expected input\[1, 3, 8, 8\] to have 5 channels/.test(e.message));
    const d = torch.ones([2]);
    d.dispose();
    assert.equal(d.isDisposed, true);
    assert.throws(() => d.add(1), /aten::add.Scalar: argument 'self' is a disposed tensor/);
    assert.throws(() => torch.matmul(torch.ones([2, 3]), torch.ones([2, 3])), /cannot be multiplied/);
    assert.throws(() => torch.ones([2]).item(), /2 elements/);
    assert.throws(() => torch.op('nonexistent_op').call([]), /nonexistent_op/);
    assert.throws(() => torch.op('add.Tensor').call([x.handle, 'x']), /argument 'other' expected a Tensor/);
  });
});

test('tidy disposes what it made, keeps results and keep()s; memory() counts handles', () => {
  const start = torch.memory().tensors;
  let kept!: torch.Tensor;
  const result = torch.tidy(() => {
    const a = torch.ones([4]);
    kept = torch.keep(a.add(1));
    const inner = torch.tidy(() => [a.mul(3), torch.zeros([2])]);
    return { out: inner[0] };
  });
  assert.equal(torch.memory().tensors, start + 2, 'result and kept survive');
  assert.deepEqual(result.out.toArray(), [3, 3, 3, 3]);
  torch.dispose([result, kept]);
  assert.equal(torch.memory().tensors, start);
  assert.throws(() => torch.tidy(() => { torch.ones([1]); throw new Error('boom'); }), /boom/);
  assert.equal(torch.memory().tensors, start, 'tensors are disposed when fn throws');
  assert.throws(() => torch.tidy(() => Promise.resolve(1)), /synchronous/);
});
