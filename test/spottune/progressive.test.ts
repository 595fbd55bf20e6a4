// Progressive Neural Networks: the output against a two-column network built by hand from the
// same weights, the frozen column bit-identical after training steps (weights and batch-norm
// statistics), gradients in every lateral connection and none in the frozen column, and the
// torchvision ResNets' channel counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { resnet18, resnet26, type Backbone } from '../../src/models/index.js';
import { ProgressiveModel, ProgressiveNet } from '../../src/spottune/index.js';

const small = () => resnet26({ numClasses: 4, inChannels: 1, width: 0.25 });

function build(): { model: ProgressiveModel; column: Map<string, Tensor>; source: Map<string, Tensor> } {
  torch.manualSeed(11);
  const column = small();
  const source = small();
  // Non-trivial batch-norm statistics in the frozen column, so that train/eval mode matters.
  torch.noGrad(() => {
    for (const [k, t] of source.namedBuffers()) if (k.endsWith('running_mean')) t.copy_(torch.randn(t.shape).mul(0.1));
    for (const [k, t] of source.namedBuffers()) if (k.endsWith('running_var')) t.copy_(torch.rand(t.shape).add(0.5));
  });
  const copy = (m: Backbone) => torch.tidy(() => new Map([...m.stateDict()].map(([k, t]) => [k, torch.keep(t.clone())])));
  const saved = { column: copy(column), source: copy(source) };
  return { model: new ProgressiveModel(new ProgressiveNet(column, source)), ...saved };
}

test('the output equals a two-column network built by hand: blockₗ(h + Uₗ·g) with g the frozen column\'s activations', () => {
  const { model, column, source } = build();
  const net = model.module;
  assert.equal(net.laterals.length, 13, 'a lateral into each of the 12 blocks and one into the head');
  assert.deepEqual([...net.frozen.namedChildren()].map(([n]) => n), ['conv1', 'bn1', 'layer1', 'layer2', 'layer3'], 'no head (bn2, avgpool, fc) in the frozen column');
  assert.deepEqual([...net.laterals].map((c) => c.inChannels), [8, 16, 16, 16, 16, 32, 32, 32, 32, 64, 64, 64, 64]);
  const a = small();
  const b = small();
  torch.tidy(() => {
    a.loadStateDict(column);
    b.loadStateDict(source);
  });
  b.eval();
  const U = [...net.laterals].map((c) => c.weight);
  for (const training of [true, false]) {
    model.setTraining(training);
    a.train(training);
    torch.tidy(() => {
      torch.manualSeed(12);
      const x = torch.randn([5, 1, 28, 28]);
      const lateral = (l: number, g: Tensor) => torch.conv2d(g, U[l]);
      let g = b.stem(x);
      let h = a.stem(x);
      for (let l = 0; l < 12; l++) {
        h = a.blocks[l].forward(h.add(lateral(l, g)));
        g = b.blocks[l].forward(g);
      }
      const expected = a.head(h.add(lateral(12, g)));
      const got = training ? model.forwardTrain(x).logits : model.forwardEval(x).logits;
      const diff = got.sub(expected).abs().max().item();
      assert.ok(diff < 1e-5, `${training ? 'training' : 'evaluation'}: max |Δ| ${diff}`);
      assert.ok(expected.abs().max().item() > 0.1, 'the logits are not trivially small');
    });
  }
  model.dispose();
  a.dispose();
  b.dispose();
  torch.dispose([...column.values(), ...source.values()]);
});

test('after SGD steps the frozen column is bit-identical (weights and statistics); every lateral and the new column got gradients, the frozen column none', () => {
  const { model, column, source } = build();
  const net = model.module;
  const frozenState = () => torch.tidy(() => [...net.frozen.stateDict()].map(([k, t]) => [k, Array.from(t.data() as Float32Array)] as const));
  const before = frozenState();
  assert.ok(before.some(([k]) => k.endsWith('running_var')) && before.length > 0);
  const params = model.paramGroups()[0].params;
  assert.ok(params.every((p) => !net.frozen.parameters().includes(p)), 'no frozen parameter is trained');
  const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
  model.setTraining(true);
  for (let step = 0; step < 3; step++) {
    torch.tidy(() => {
      torch.manualSeed(20 + step);
      const x = torch.randn([6, 1, 28, 28]);
      const y = torch.randint(0, 4, [6]);
      opt.zeroGrad();
      torch.crossEntropy(model.forwardTrain(x).logits, y).backward();
      for (const [i, lateral] of [...net.laterals].entries()) {
        const g = lateral.weight.grad;
        assert.ok(g && g.abs().sum().item() > 0 && torch.all(torch.isfinite(g)).item(), `lateral ${i} has a gradient`);
      }
      assert.ok(net.column.blocks[0].parameters().every((p) => p.grad && p.grad.abs().sum().item() > 0), 'the new column learns');
      assert.ok(net.frozen.parameters().every((p) => p.grad === undefined), 'no gradient reaches the frozen column');
      opt.step();
    });
  }
  assert.deepEqual(frozenState(), before);
  // The new column and the laterals did move.
  torch.tidy(() => assert.ok(net.column.stateDict().get('layer1.0.conv1.weight')!.sub(column.get('layer1.0.conv1.weight')!).abs().max().item() > 0));
  opt.dispose();
  model.dispose();
  torch.dispose([...column.values(), ...source.values()]);
});

test('torchvision ResNet-18: laterals of 64/64/64/128/128/256/256/512/512 channels, logits for the target classes', () => {
  torch.manualSeed(13);
  const model = new ProgressiveModel(new ProgressiveNet(resnet18({ numClasses: 3 }), resnet18({ numClasses: 1000 })));
  assert.deepEqual([...model.module.laterals].map((c) => c.outChannels), [64, 64, 64, 128, 128, 256, 256, 512, 512]);
  model.setTraining(false);
  torch.tidy(() => assert.deepEqual(model.forwardEval(torch.randn([2, 3, 32, 32])).logits.shape, [2, 3]));
  assert.ok(!model.module.stateDict().has('frozen.fc.weight'), 'the frozen column has no classifier');
  assert.deepEqual([...model.module.frozen.namedChildren()].map(([n]) => n), ['conv1', 'bn1', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4']);
  model.dispose();
});
