import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { Agent, createBackbone, resnet26, resnet38, ARCHS } from '../../src/models/index.js';

test('ResNet-26: Rebuffi layout, parameter-free shortcuts, width multiplier, shapes', () => {
  torch.tidy(() => {
    const net = resnet26({ numClasses: 7, width: 0.25 });
    assert.equal(net.blocks.length, 12);
    const keys = [...net.stateDict().keys()];
    assert.ok(keys.includes('layer1.0.conv1.weight') && keys.includes('layer3.3.bn2.running_var') && keys.includes('bn2.weight') && keys.includes('fc.bias'));
    assert.ok(!keys.some((k) => k.includes('downsample') || k.includes('shortcut')), 'shortcuts have no parameters');
    assert.deepEqual([...net.conv1.weight.shape], [8, 3, 3, 3]);
    assert.deepEqual([...net.fc.weight.shape], [7, 64]);
    const y = net.forward(torch.randn([2, 3, 32, 32]));
    assert.deepEqual([...y.shape], [2, 7]);
    assert.equal(resnet38({ width: 0.25 }).blocks.length, 18);
    net.replaceClassifier(3);
    assert.deepEqual([...net.forward(torch.randn([1, 3, 16, 16])).shape], [1, 3]);
    assert.equal(net.numClasses, 3);
  });
});

test('the shortcut pools and zero-pads: with zeroed residual branches a block passes relu(pool(x)) and zeros', () => {
  torch.tidy(() => {
    const net = resnet26({ width: 0.25 });
    const block = net.blocks[4]; // first block of layer2: 16 -> 32 channels, stride 2
    for (const p of block.parameters()) torch.noGrad(() => p.zero_());
    const x = torch.randn([1, 16, 8, 8]);
    const y = block.eval().forward(x);
    assert.deepEqual([...y.shape], [1, 32, 4, 4]);
    const expected = torch.avgPool2d(x, 2).relu();
    assert.ok(y.slice(1, 0, 16).sub(expected).abs().max().item() < 1e-6);
    assert.equal(y.slice(1, 16).abs().max().item(), 0);
  });
});

test('policy network outputs [B, L, 2] logits; resizes large inputs when asked', () => {
  torch.tidy(() => {
    const agent = new Agent({ numBlocks: 12, width: 0.25, inputSize: 32 });
    assert.equal(agent.blocks.length, 3);
    assert.deepEqual([...agent.forward(torch.randn([3, 3, 96, 96])).shape], [3, 12, 2]);
  });
});

test('createBackbone knows every architecture and rejects unknown ones clearly', () => {
  assert.deepEqual(ARCHS, ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnet26', 'resnet38']);
  assert.throws(() => createBackbone('vgg16'), /unknown architecture "vgg16"; expected one of resnet18/);
  assert.throws(() => createBackbone('resnet50', { width: 0.5 }), /width applies to resnet26/);
});
