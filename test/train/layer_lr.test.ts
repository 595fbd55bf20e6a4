// Per-layer learning rates: which parameters share a rate and what the rate is, for a plain
// network, a partly frozen one and SpotTune (whose policy network is left to --lr-agent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { createBackbone } from '../../src/models/index.js';
import { buildMethod, type StrategyContext, type TrainModel } from '../../src/spottune/index.js';
import { layerGroups, type LayerLrOptions } from '../../src/train/layer_lr.js';

const ctx: StrategyContext = {
  pretrained: () => createBackbone('resnet26', { numClasses: 4, inChannels: 1, width: 0.25 }),
  source: () => { throw new Error('unused'); },
  deeper: () => { throw new Error('unused'); },
  scratch: () => createBackbone('resnet26', { numClasses: 4, inChannels: 1, width: 0.25 }),
  numClasses: 4, inChannels: 1, seed: 0,
};

/** Each group as [lr, parameter names], for the model's network ('net') group. */
function groups(method: string, o: LayerLrOptions): { model: TrainModel; got: [number, string[]][] } {
  torch.manualSeed(0);
  const model = buildMethod(method, ctx);
  const names = new Map(model.module.namedParameters().map(([n, p]) => [p, n]));
  const net = model.paramGroups().find((g) => g.role === 'net')!.params;
  return { model, got: layerGroups(model.layers(), net, o).map((g) => [g.lr, g.params.map((p) => names.get(p)!)]) };
}

const block = (prefix: string, stage: number, i: number) => ['conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias'].map((n) => `${prefix}layer${stage}.${i}.${n}`);

test('--layer-decay on finetune: head at lr, block l at lr·d^(12 − l), stem at lr·d^13 (ResNet-26: 12 blocks)', () => {
  const { model, got } = groups('finetune', { lr: 0.1, layerDecay: 0.5 });
  assert.equal(got.length, 14);
  assert.deepEqual(got[0], [0.1, ['bn2.weight', 'bn2.bias', 'fc.weight', 'fc.bias']]);
  assert.deepEqual(got[1], [0.1 * 0.5, block('', 3, 3)]);
  assert.deepEqual(got[2], [0.1 * 0.25, block('', 3, 2)]);
  assert.deepEqual(got[12], [0.1 * 0.5 ** 12, block('', 1, 0)]);
  assert.deepEqual(got[13], [0.1 * 0.5 ** 13, ['conv1.weight', 'bn1.weight', 'bn1.bias']]);
  assert.equal(got.flatMap(([, n]) => n).length, model.module.parameters().length);
  model.dispose();
});

test('--lr-backbone alone: the head at lr, everything below at the backbone rate (TLlib)', () => {
  const { model, got } = groups('finetune', { lr: 0.1, lrBackbone: 0.01 });
  assert.deepEqual([...new Set(got.map(([lr]) => lr))], [0.1, 0.01]);
  assert.deepEqual(got[0][1], ['bn2.weight', 'bn2.bias', 'fc.weight', 'fc.bias']);
  model.dispose();
});

test('both: stem and blocks at lr-backbone·d^depth; frozen layers have no group', () => {
  const { model, got } = groups('last-2', { lr: 0.2, lrBackbone: 0.02, layerDecay: 0.7 });
  assert.deepEqual(got, [
    [0.2, ['fc.weight', 'fc.bias']],
    [0.02 * 0.7, block('', 3, 3)],
    [0.02 * 0.7 ** 2, block('', 3, 2)],
  ]);
  model.dispose();
});

test('SpotTune: the fine-tuned branch by layer, a frozen block\'s trainable batch norm with its block, the agent left out', () => {
  const { model, got } = groups('spottune', { lr: 0.1, layerDecay: 0.5 });
  assert.equal(got.length, 14);
  assert.deepEqual(got[0], [0.1, ['net.bn2.weight', 'net.bn2.bias', 'net.fc.weight', 'net.fc.bias']]);
  assert.deepEqual(got[1], [0.05, [...block('net.', 3, 3), 'frozen.11.bn1.weight', 'frozen.11.bn1.bias', 'frozen.11.bn2.weight', 'frozen.11.bn2.bias']]);
  assert.deepEqual(got[13], [0.1 * 0.5 ** 13, ['net.conv1.weight', 'net.bn1.weight', 'net.bn1.bias']]);
  assert.ok(!got.some(([, names]) => names.some((n) => n.startsWith('agent.'))));
  model.dispose();
});

test('neither option: one group at lr, as before', () => {
  const { model, got } = groups('finetune', { lr: 0.1 });
  assert.equal(got.length, 1);
  assert.equal(got[0][0], 0.1);
  model.dispose();
});
