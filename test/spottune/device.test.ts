// Device threading and precision on the CPU. Every method's training step (forward, loss,
// regulariser, backward, SGD) and evaluation (every routing, routed and both-branch) runs under
// torch.requireDevices, which fails on any tensor made without naming its device: on a GPU run
// such a tensor would land on the CPU. Under bfloat16 autocast the decisions stay exactly 0/1
// and weights, gradients and batch-norm statistics stay float32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { resnet26 } from '../../src/models/index.js';
import { SpotTuneModel, buildMethod, listMethods, type StrategyContext, type TrainModel } from '../../src/spottune/index.js';

function context(): StrategyContext {
  const make = () => resnet26({ numClasses: 3, width: 0.25 });
  return { pretrained: make, source: make, deeper: () => resnet26({ numClasses: 3, width: 0.25, blocksPerStage: 6 }), scratch: make, numClasses: 3, inChannels: 3, seed: 1 };
}

function trainStep(model: TrainModel, x: torch.Tensor, y: torch.Tensor, precision?: 'bfloat16'): void {
  const opts = model.paramGroups().filter((g) => g.params.length > 0).map((g) => new SGD(g.params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }));
  for (let i = 0; i < 2; i++) {
    torch.tidy(() => {
      const forward = () => {
        const out = model.forwardTrain(x);
        const reg = model.regularizer?.(out, y);
        const loss = torch.crossEntropy(out.logits, y);
        return reg ? loss.add(reg) : loss;
      };
      const loss = precision ? torch.autocast(forward, { device: 'cpu', dtype: precision }) : forward();
      for (const o of opts) o.zeroGrad();
      loss.backward();
      for (const o of opts) o.step();
    });
  }
}

test('every method trains and evaluates with every tensor made on the input\'s device', () => {
  for (const s of listMethods()) {
    torch.tidy(() => {
      torch.manualSeed(2);
      const model = buildMethod(s.name, context());
      const x = torch.randn([4, 3, 16, 16], { device: 'cpu' }), y = torch.tensor([0, 1, 2, 1], { dtype: 'int64', device: 'cpu' });
      torch.requireDevices(() => {
        model.setTraining(true);
        trainStep(model, x, y);
        model.setTraining(false);
        for (const routing of ['finetuned', 'frozen', 'sample', 'argmax'] as const) {
          if (model instanceof SpotTuneModel) model.forwardEval(x, routing);
        }
        model.forwardEval(x);
      });
      model.dispose();
    });
  }
  assert.throws(() => torch.requireDevices(() => torch.zeros([2])), /created without a device/);
  assert.throws(() => torch.requireDevices(() => torch.tensor([1, 2])), /created without a device/);
});

test('SpotTune under bfloat16 autocast: decisions exactly 0/1, float32 weights, gradients and batch-norm statistics', () => {
  torch.tidy(() => {
    torch.manualSeed(3);
    const model = buildMethod('spottune', context()) as SpotTuneModel;
    const x = torch.randn([6, 3, 16, 16]), y = torch.tensor([0, 1, 2, 0, 1, 2], { dtype: 'int64' });
    model.setTraining(true);
    const out = torch.autocast(() => model.forwardTrain(x), { device: 'cpu', dtype: 'bfloat16' });
    assert.equal(out.logits.dtype, 'bfloat16');
    assert.equal(out.decisions.dtype, 'float32');
    assert.ok(out.decisions.toArray().every((d) => d === 0 || d === 1), 'decisions are not exactly 0/1');
    const before = model.module.buffers().filter((b) => b.dtype === 'float32').map((b) => b.clone());
    trainStep(model, x, y, 'bfloat16');
    const buffers = model.module.buffers().filter((b) => b.dtype !== 'int64');
    assert.ok(buffers.every((b) => b.dtype === 'float32'));
    assert.ok(buffers.some((b, i) => b.sub(before[i]).abs().max().item() > 0), 'batch-norm statistics were not updated');
    for (const p of model.module.parameters()) {
      assert.equal(p.dtype, 'float32');
      if (p.grad) assert.equal(p.grad.dtype, 'float32');
    }
    model.dispose();
  });
});
