// Module bookkeeping: names, state dicts, modes, freezing, disposal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { native } from '../../src/torch/native.js';

/** A torchvision-style block: children registered under names, as typed fields. */
class Block extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly relu = new nn.ReLU();
  constructor(channels: number) {
    super();
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(channels, channels, 3, { padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm2d(channels));
    this.registerModule('relu', this.relu);
  }
  forward(x: Tensor): Tensor {
    return this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
  }
}

class Net extends nn.Module {
  readonly layer1 = this.registerModule('layer1', new nn.Sequential(new Block(2), new Block(2)));
  readonly fc = this.registerModule('fc', new nn.Linear(2, 3));
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.layer1.forward(x).mean([2, 3]));
  }
}

const keysOf = (m: nn.AnyModule): string[] => torch.tidy(() => [...m.stateDict().keys()]);

test('dotted names follow registration order, like PyTorch', () => {
  const net = new Net();
  const block = ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked'];
  assert.deepEqual(keysOf(net), [...block.map((k) => `layer1.0.${k}`), ...block.map((k) => `layer1.1.${k}`), 'fc.weight', 'fc.bias']);
  assert.deepEqual(net.namedParameters().map(([k]) => k), ['layer1.0.conv1.weight', 'layer1.0.bn1.weight', 'layer1.0.bn1.bias', 'layer1.1.conv1.weight', 'layer1.1.bn1.weight', 'layer1.1.bn1.bias', 'fc.weight', 'fc.bias']);
  assert.deepEqual(net.namedBuffers().map(([k]) => k).slice(0, 3), ['layer1.0.bn1.running_mean', 'layer1.0.bn1.running_var', 'layer1.0.bn1.num_batches_tracked']);
  assert.deepEqual(net.namedModules().map(([k]) => k), ['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'layer1.0.bn1', 'layer1.0.relu', 'layer1.1', 'layer1.1.conv1', 'layer1.1.bn1', 'layer1.1.relu', 'fc']);
  assert.deepEqual(net.namedChildren().map(([k]) => k), ['layer1', 'fc']);
  assert.equal(net.layer1.at(-1), net.layer1.children()[1]);
  const bn = net.layer1.at(0) as Block;
  assert.equal(bn.bn1.numBatchesTracked!.dtype, 'int64');
  assert.deepEqual(bn.bn1.numBatchesTracked!.shape, []);
  net.dispose();
});

test('a parameter shared by two modules is listed once', () => {
  const a = new nn.Linear(2, 2);
  const seq = new nn.Sequential(a, a);
  assert.equal(seq.parameters().length, 2);
  assert.deepEqual(keysOf(seq), ['0.weight', '0.bias', '1.weight', '1.bias']);
  seq.dispose();
});

test('registration rejects dotted names and kind clashes', () => {
  const m = new nn.Linear(2, 2);
  assert.throws(() => m.registerModule('a.b', new nn.ReLU()), /"a\.b".*contain no "\."/);
  assert.throws(() => m.registerBuffer('weight', torch.zeros([1])), /"weight": it is already a parameter of Linear/);
  m.dispose();
});

test('stateDict gives detached views; loadStateDict copies values in place', () => {
  const a = new nn.Linear(3, 2);
  const b = new nn.Linear(3, 2, { dtype: 'float64' });
  const weight = b.weight;
  torch.tidy(() => {
    const sd = a.stateDict();
    assert.equal(sd.get('weight')!.requiresGrad, false);
    assert.deepEqual(b.loadStateDict(sd), { missing: [], unexpected: [], mismatched: [] });
  });
  assert.equal(b.weight, weight, 'same parameter object');
  assert.equal(b.weight.dtype, 'float64');
  assert.ok(b.weight.requiresGrad && b.weight.isLeaf);
  const close = (x: Tensor, y: Tensor) => x.toArray().every((v, i) => Math.abs(v - y.toArray()[i]) < 1e-7);
  assert.ok(close(a.weight, b.weight) && close(a.bias!, b.bias!));
  a.dispose();
  b.dispose();
});

test('strict loading lists every missing, unexpected and mis-shaped key, and copies nothing', () => {
  const m = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.BatchNorm2d(2));
  const before = (m.at(1) as nn.BatchNorm2d).runningMean!.toArray();
  torch.tidy(() => {
    const sd = m.stateDict();
    sd.delete('1.running_var');
    sd.delete('1.num_batches_tracked');
    sd.set('2.weight', torch.zeros([1]));
    sd.set('0.weight', torch.zeros([2, 1, 5, 5]));
    sd.set('1.running_mean', torch.ones([2]));
    assert.throws(() => m.loadStateDict(sd), (e: Error) => {
      assert.match(e.message, /missing keys: 1\.running_var, 1\.num_batches_tracked/);
      assert.match(e.message, /unexpected keys: 2\.weight/);
      assert.match(e.message, /shape mismatches: 0\.weight \(expected \[2, 1, 3, 3\], got \[2, 1, 5, 5\]\)/);
      return true;
    });
    assert.deepEqual((m.at(1) as nn.BatchNorm2d).runningMean!.toArray(), before, 'nothing copied');

    const r = m.loadStateDict(sd, { strict: false });
    assert.deepEqual(r, { missing: ['1.running_var', '1.num_batches_tracked'], unexpected: ['2.weight'], mismatched: ['0.weight'] });
    assert.deepEqual((m.at(1) as nn.BatchNorm2d).runningMean!.toArray(), [1, 1], 'matching keys copied');
  });
  m.dispose();
});

test('train() and eval() reach every descendant; apply visits children first', () => {
  const net = new Net();
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  const order: string[] = [];
  net.fc.apply((m) => order.push(m.constructor.name));
  net.layer1.at(0).apply((m) => order.push(m.constructor.name));
  assert.deepEqual(order, ['Linear', 'Conv2d', 'BatchNorm2d', 'ReLU', 'Block']);
  net.dispose();
});

test('a frozen parameter gets no gradient and an optimizer leaves it unchanged', () => {
  const net = new Net();
  net.layer1.freeze();
  assert.ok(net.layer1.parameters().every((p) => p.frozen));
  assert.ok(net.fc.parameters().every((p) => !p.frozen));
  const opt = new SGD(net.parameters(), { lr: 0.5, momentum: 0.9, weightDecay: 0.1 });
  const frozenBefore = net.layer1.parameters().map((p) => p.toArray());
  const fcBefore = net.fc.weight.toArray();
  for (let i = 0; i < 2; i++) {
    torch.tidy(() => net.forward(torch.randn([2, 2, 5, 5])).square().sum().backward());
    opt.step();
  }
  assert.deepEqual(net.layer1.parameters().map((p) => p.toArray()), frozenBefore);
  assert.ok(net.layer1.parameters().every((p) => p.grad === undefined));
  assert.notDeepEqual(net.fc.weight.toArray(), fcBefore);
  assert.equal(opt.state.size, 2, 'state only for the trained parameters');
  net.layer1.at(1).unfreeze();
  assert.ok(net.layer1.at(1).parameters().every((p) => !p.frozen));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === undefined));
  opt.dispose();
  net.dispose();
});

test('dispose frees every parameter and buffer handle; creating a module leaves no temporaries', () => {
  const start = torch.memory().tensors;
  const net = torch.tidy(() => new Net());
  // 2 blocks × (conv weight + bn weight, bias, 3 buffers) + fc weight, bias
  assert.equal(torch.memory().tensors - start, 14);
  net.dispose();
  assert.equal(torch.memory().tensors, start);
});

test('toChannelsLast keeps values, identities and state-dict bytes; SGD updates the channels-last weights in place', () => {
  torch.tidy(() => {
    torch.manualSeed(5);
    const conv = new nn.Conv2d(8, 16, 3, { padding: 1, bias: true });
    const w = conv.weight;
    const before = w.detach().clone();
    const bytes = Buffer.from(w.detach().contiguous().data().buffer).toString('hex');
    assert.equal(conv.toChannelsLast(), conv);
    assert.equal(conv.weight, w, 'same Parameter object');
    assert.deepEqual(native().strides(w.handle), [72, 1, 24, 8], 'channels-last strides of [16, 8, 3, 3]');
    assert.equal(w.sub(before).abs().max().item(), 0);
    assert.equal(Buffer.from(w.detach().contiguous().data().buffer).toString('hex'), bytes);
    assert.deepEqual([...conv.bias!.shape], [16], '1-D parameters untouched');
    // Two SGD steps with momentum on the channels-last weight equal the same steps on a copy.
    const ref = before.clone().requiresGrad_(true);
    const a = new SGD([w], { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const b = new SGD([ref], { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    for (let i = 0; i < 2; i++) {
      const x = torch.randn([4, 8, 6, 6]);
      a.zeroGrad();
      b.zeroGrad();
      conv.forward(x).square().mean().backward();
      torch.conv2d(x, ref, conv.bias!.detach(), 1, 1).square().mean().backward();
      a.step();
      b.step();
    }
    assert.deepEqual(native().strides(w.handle), [72, 1, 24, 8], 'still channels-last');
    assert.ok(w.detach().sub(ref.detach()).abs().max().item() < 1e-6);
  });
});

test('module.to(device) keeps every parameter and buffer object and its gradient flag; to its own device changes nothing', () => {
  torch.tidy(() => {
    torch.manualSeed(4);
    const m = new nn.Sequential(new nn.Conv2d(3, 8, 3), new nn.BatchNorm2d(8));
    m.parameters()[1].freeze();
    const before = [...m.parameters(), ...m.buffers()];
    const values = before.map((t) => t.clone());
    m.to('cpu');
    before.forEach((t, i) => assert.equal(t.sub(values[i]).abs().max().item(), 0, `value ${i} changed`));
    m.to('meta');
    const after = [...m.parameters(), ...m.buffers()];
    assert.ok(after.every((t, i) => t === before[i] && t.device === 'meta' && t.shape.join() === values[i].shape.join() && t.dtype === values[i].dtype));
    assert.deepEqual(m.parameters().map((p) => [p.requiresGrad, p.isLeaf]), [[true, true], [false, true], [true, true], [true, true]]);
  });
});
