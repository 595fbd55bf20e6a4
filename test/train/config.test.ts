import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig, referenceMilestones } from '../../src/train/config.js';

test('flags left out (undefined) keep the defaults; multistep defaults to the reference milestones', () => {
  const c = makeConfig({ method: 'finetune', arch: 'resnet26', data: 'digits', schedule: 'cosine', milestones: undefined, epochs: 20 });
  assert.deepEqual(c.milestones, []);
  assert.equal(c.schedule, 'cosine');
  assert.deepEqual(makeConfig({ method: 'finetune', arch: 'resnet26', data: 'digits', epochs: 110 }).milestones, [40, 60, 80]);
  assert.deepEqual(referenceMilestones(11), [4, 6, 8]);
  assert.deepEqual(makeConfig({ method: 'finetune', arch: 'resnet26', data: 'digits', milestones: [40], gamma: 0.1, epochs: 110 }).milestones, [40], 'the reference code\'s bug, reproduced explicitly');
});

test('bad values are refused with the field named', () => {
  assert.throws(() => makeConfig({ method: 'nope', arch: 'resnet26', data: 'digits' }), /config field "method": expected one of/);
  assert.throws(() => makeConfig({ method: 'finetune', arch: 'resnet26', data: 'digits', lr: -1 }), /config field "lr"/);
  assert.throws(() => makeConfig({ method: 'finetune-deeper', arch: 'resnet26', data: 'digits' }), /deeperArch/);
});
