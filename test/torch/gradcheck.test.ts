// Every differentiable op the tensor API exposes, checked against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

const f64 = { dtype: 'float64' as const };
torch.manualSeed(1);
// Inputs well away from kinks (relu at 0, abs at 0, max ties) so differences are smooth.
const away = (shape: number[]) => torch.tidy(() => { const r = torch.randn(shape, f64); return r.add(torch.sign(r).mul(0.2)); });
const pos = (shape: number[]) => torch.rand(shape, f64).add(0.5);
const distinct = (shape: number[]) => torch.tidy(() => torch.randperm(shape.reduce((a, b) => a * b, 1)).double().div(3).reshape(shape));

type Case = [string, (...xs: Tensor[]) => Tensor, Tensor[]];
const idx = torch.tensor([2, 0, 1], { dtype: 'int64' });
const labels = torch.tensor([1, 0, 3], { dtype: 'int64' });
const mask = torch.tensor([true, false, true, false, false, true], { shape: [2, 3] });

const cases: Case[] = [
  ['add', (a, b) => torch.add(a, b, 2), [away([2, 3]), away([3])]],
  ['add scalar', (a) => a.add(1.5), [away([4])]],
  ['sub', (a, b) => a.sub(b), [away([2, 3]), away([2, 3])]],
  ['mul', (a, b) => a.mul(b), [away([2, 3]), away([2, 1])]],
  ['div', (a, b) => a.div(b), [away([2, 3]), pos([2, 3])]],
  ['pow scalar', (a) => a.pow(3), [away([5])]],
  ['pow tensor', (a, b) => a.pow(b), [pos([4]), away([4])]],
  ['neg', (a) => a.neg(), [away([3])]],
  ['abs', (a) => a.abs(), [away([5])]],
  ['exp', (a) => a.exp(), [away([5])]],
  ['log', (a) => a.log(), [pos([5])]],
  ['log1p', (a) => torch.log1p(a), [pos([5])]],
  ['sqrt', (a) => a.sqrt(), [pos([5])]],
  ['rsqrt', (a) => torch.rsqrt(a), [pos([5])]],
  ['square', (a) => a.square(), [away([5])]],
  ['reciprocal', (a) => torch.reciprocal(a), [pos([5])]],
  ['sin', (a) => torch.sin(a), [away([5])]],
  ['cos', (a) => torch.cos(a), [away([5])]],
  ['tanh', (a) => a.tanh(), [away([5])]],
  ['sigmoid', (a) => a.sigmoid(), [away([5])]],
  ['relu', (a) => a.relu(), [away([6])]],
  ['clamp', (a) => a.clamp(-0.5, 0.5), [distinct([6]).sub(0.9)]],
  ['maximum', (a, b) => torch.maximum(a, b), [distinct([6]), distinct([6]).add(0.1)]],
  ['minimum', (a, b) => torch.minimum(a, b), [distinct([6]), distinct([6]).add(0.1)]],
  ['where', (a, b) => torch.where(mask, a, b), [away([2, 3]), away([2, 3])]],
  ['lerp', (a, b, w) => torch.lerp(a, b, w), [away([2, 3]), away([2, 3]), torch.rand([2, 1], f64)]],
  ['maskedFill', (a) => a.maskedFill(mask, 0), [away([2, 3])]],
  ['sum', (a) => a.sum(), [away([2, 3])]],
  ['sum dim', (a) => a.sum(1, true), [away([2, 3])]],
  ['mean dims', (a) => a.mean([0, 2]), [away([2, 3, 2])]],
  ['prod', (a) => torch.prod(a), [away([4])]],
  ['variance', (a) => torch.variance(a, 1), [away([2, 4])]],
  ['std', (a) => torch.std(a, undefined, false), [away([2, 4])]],
  ['norm', (a) => torch.norm(a), [away([2, 4])]],
  ['logsumexp', (a) => torch.logsumexp(a, 1), [away([2, 4])]],
  ['amax', (a) => torch.amax(a, 1), [distinct([2, 4])]],
  ['amin', (a) => torch.amin(a, 0), [distinct([2, 4])]],
  ['max dim', (a) => torch.max(a, 1)[0], [distinct([2, 4])]],
  ['min dim', (a) => torch.min(a, 0)[0], [distinct([2, 4])]],
  ['max all', (a) => a.max(), [distinct([2, 4])]],
  ['topk', (a) => torch.topk(a, 2)[0], [distinct([2, 4])]],
  ['sort', (a) => torch.sort(a, 1, true)[0], [distinct([2, 4])]],
  ['cumsum', (a) => torch.cumsum(a, 1), [away([2, 4])]],
  ['matmul', (a, b) => a.matmul(b), [away([2, 3, 4]), away([4, 2])]],
  ['mm', (a, b) => torch.mm(a, b), [away([2, 3]), away([3, 2])]],
  ['bmm', (a, b) => torch.bmm(a, b), [away([2, 2, 3]), away([2, 3, 2])]],
  ['linear', (x, w, b) => torch.linear(x, w, b), [away([3, 4]), away([2, 4]), away([2])]],
  ['conv2d', (x, w, b) => torch.conv2d(x, w, b, 2, 1), [away([1, 2, 5, 5]), away([3, 2, 3, 3]), away([3])]],
  ['conv2d groups dilation', (x, w) => torch.conv2d(x, w, undefined, 1, 2, 2, 2), [away([1, 2, 5, 5]), away([4, 1, 3, 3])]],
  ['batchNorm train', (x, w, b) => torch.batchNorm(x, undefined, undefined, w, b, true), [away([3, 2, 2, 2]), pos([2]), away([2])]],
  ['batchNorm eval', (x, w, b) => torch.batchNorm(x, torch.zeros([2], f64), torch.ones([2], f64), w, b, false), [away([3, 2, 2, 2]), pos([2]), away([2])]],
  ['maxPool2d', (x) => torch.maxPool2d(x, 2), [distinct([1, 2, 4, 4])]],
  ['maxPool2d padded', (x) => torch.maxPool2d(x, 3, 2, 1), [distinct([1, 1, 5, 5])]],
  ['avgPool2d', (x) => torch.avgPool2d(x, 2, 1, 1), [away([1, 2, 3, 3])]],
  ['adaptiveAvgPool2d', (x) => torch.adaptiveAvgPool2d(x, [2, 1]), [away([1, 2, 5, 3])]],
  ['adaptiveMaxPool2d', (x) => torch.adaptiveMaxPool2d(x, 2), [distinct([1, 1, 4, 4])]],
  ['softmax', (x) => x.softmax(1), [away([2, 4])]],
  ['logSoftmax', (x) => x.logSoftmax(1), [away([2, 4])]],
  ['dropout (seeded)', (x) => { torch.manualSeed(7); return torch.dropout(x, 0.5, true); }, [away([8])]],
  ['crossEntropy', (x) => torch.crossEntropy(x, labels), [away([3, 4])]],
  ['crossEntropy smoothing+weight', (x) => torch.crossEntropy(x, labels, { labelSmoothing: 0.1, weight: torch.tensor([1, 2, 0.5, 1], f64) }), [away([3, 4])]],
  ['crossEntropy soft targets', (x, p) => torch.crossEntropy(x, p.softmax(1)), [away([3, 4]), away([3, 4])]],
  ['nllLoss', (x) => torch.nllLoss(x.logSoftmax(1), labels, 'sum'), [away([3, 4])]],
  ['mseLoss', (a, b) => torch.mseLoss(a, b), [away([3, 2]), away([3, 2])]],
  ['gather', (x) => torch.gather(x, 1, torch.tensor([[0, 2], [1, 1]], { dtype: 'int64' })), [away([2, 3])]],
  ['interpolate bilinear', (x) => torch.interpolate(x, { size: [5, 3], mode: 'bilinear' }), [away([1, 1, 3, 2])]],
  ['interpolate nearest', (x) => torch.interpolate(x, { scaleFactor: 2 }), [away([1, 1, 2, 2])]],
  ['view/reshape/flatten', (x) => x.view(6, 2).reshape(3, 4).flatten(), [away([2, 3, 2])]],
  ['permute/transpose/T', (x) => x.permute(2, 0, 1).transpose(0, 1).flatten(1).T, [away([2, 3, 2])]],
  ['squeeze/unsqueeze/expand', (x) => x.squeeze(1).unsqueeze(0).expand(3, 2, 2), [away([2, 1, 2])]],
  ['narrow/select/slice', (x) => x.narrow(0, 1, 2).select(1, 0).slice(0, 0, 2), [away([3, 2, 2])]],
  ['slice step', (x) => x.slice(1, 0, undefined, 2), [away([2, 5])]],
  ['index', (x) => x.index([idx]), [away([3, 2])]],
  ['index 2-D', (x) => x.index([null, torch.tensor([1, 1, 0], { dtype: 'int64' })]), [away([3, 2])]],
  ['indexSelect', (x) => x.indexSelect(0, idx), [away([3, 2])]],
  ['maskedSelect', (x) => torch.maskedSelect(x, mask), [away([2, 3])]],
  ['chunk', (x) => x.chunk(2, 1)[1], [away([2, 4])]],
  ['split', (x) => x.split([1, 3], 1)[1].mul(x.split(2, 1)[0].sum()), [away([2, 4])]],
  ['cat', (a, b) => torch.cat([a, b], 1), [away([2, 1]), away([2, 3])]],
  ['stack', (a, b) => torch.stack([a, b], 1), [away([2, 3]), away([2, 3])]],
  ['repeat', (x) => x.repeat(2, 3), [away([2, 1])]],
  ['flip', (x) => x.flip(0, 1), [away([2, 3])]],
  ['pad', (x) => torch.pad(x, [1, 2, 0, 1], 0.5), [away([1, 2, 2])]],
  ['contiguous/clone', (x) => x.T.contiguous().clone(), [away([2, 3])]],
];

for (const [name, fn, inputs] of cases) {
  test(`gradcheck ${name}`, () => {
    const r = torch.gradcheck(fn, inputs);
    assert.ok(r.ok, `${name}: ${r.failure}`);
  });
}

test('gradcheck detects a wrong gradient', () => {
  // detach() hides one factor from autograd: d/dx (x * stopgrad(x)) reported as x, truly 2x
  const r = torch.gradcheck((x) => x.mul(x.detach()), [away([3])]);
  assert.equal(r.ok, false);
});
