// Co-Tuning: the category relationship against a hand computation on a toy problem, the
// source-label loss against PyTorch, prepare() as the source model's pass over the training
// set, and a trained run's checkpoint opening without the source weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { resnet26 } from '../../src/models/index.js';
import { categoryRelationship, coTuningModel, softCrossEntropy, type TrainingSet } from '../../src/spottune/index.js';
import { pytorch, values } from './reference.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test('relationship p(y_s | y_t) on a toy problem: per target class, the mean of its images\' source probabilities', () => {
  // 5 images, 3 source classes, 2 target classes.
  const probs = [
    0.7, 0.2, 0.1, // t=0
    0.1, 0.1, 0.8, // t=1
    0.5, 0.4, 0.1, // t=0
    0.2, 0.2, 0.6, // t=1
    0.0, 0.3, 0.7, // t=1
  ];
  const labels = [0, 1, 0, 1, 1];
  // By hand: t=0: ((0.7+0.5)/2, (0.2+0.4)/2, (0.1+0.1)/2); t=1: ((0.1+0.2+0)/3, (0.1+0.2+0.3)/3, (0.8+0.6+0.7)/3).
  const expected = [0.6, 0.3, 0.1, 0.1, 0.2, 0.7];
  torch.tidy(() => {
    const r = categoryRelationship(torch.tensor(Float64Array.from(probs), { shape: [5, 3] }), torch.tensor(labels).long(), 2);
    assert.deepEqual(r.shape, [2, 3]);
    close(r.data() as Float64Array, expected, 1e-15, 'relationship');
    assert.throws(() => categoryRelationship(torch.tensor(Float64Array.from(probs), { shape: [5, 3] }), torch.tensor(labels).long(), 3), /target class\(es\) 2 have no training image/);
  });
});

test('the source-label loss: −mean_b Σ_s p(s | y_b)·log softmax(z_b)_s, as TLlib\'s CoTuningLoss in PyTorch', () => {
  const z = values(12, 3);
  const target = [0.6, 0.3, 0.1, 0, 0.1, 0.2, 0.7, 0, 0.25, 0.25, 0.25, 0.25];
  const expected = pytorch(`
z = torch.tensor(data[0]).reshape(3, 4); t = torch.tensor(data[1]).reshape(3, 4)
loss = -t * torch.nn.functional.log_softmax(z, dim=-1)
print(json.dumps(float(torch.mean(torch.sum(loss, dim=-1)))))`, [z, target]);
  torch.tidy(() => {
    const got = softCrossEntropy(torch.tensor(Float64Array.from(z), { shape: [3, 4] }), torch.tensor(Float64Array.from(target), { shape: [3, 4] })).item();
    assert.ok(Math.abs(got - expected) < 1e-14, `${got} vs ${expected}`);
  });
});

/** A toy training set: 3 batches of random 28×28 images with fixed labels, 2 classes. */
function toySet(): TrainingSet & { batches: [number[], number[]][] } {
  torch.manualSeed(8);
  const batches = [0, 1, 2].map((i): [number[], number[]] => [Array.from(torch.tidy(() => torch.randn([4, 1, 28, 28]).toArray())), i === 2 ? [1, 1, 0, 1] : [0, 1, 0, 0]]);
  return {
    numClasses: 2,
    batches,
    forEach: async (fn) => {
      for (const [x, y] of batches) torch.tidy(() => fn(torch.tensor(Float32Array.from(x), { shape: [4, 1, 28, 28] }), torch.tensor(y).long()));
    },
  };
}

test('prepare(): the relationship from the source network (evaluation mode) on every training image; training adds λ·CE against its rows', async () => {
  torch.manualSeed(3);
  const source = resnet26({ numClasses: 6, inChannels: 1, width: 0.25 });
  const net = resnet26({ numClasses: 2, inChannels: 1, width: 0.25 });
  torch.tidy(() => net.loadStateDict(new Map([...source.stateDict()].filter(([k]) => !k.startsWith('fc.')).concat([...net.stateDict()].filter(([k]) => k.startsWith('fc.'))))));
  // The source's own predictions, before the model takes its classifier over.
  const data = toySet();
  source.eval();
  const probs = torch.tidy(() => torch.noGrad(() => data.batches.flatMap(([x]) => Array.from(torch.softmax(source.forward(torch.tensor(Float32Array.from(x), { shape: [4, 1, 28, 28] })), 1).toArray()))));
  const labels = data.batches.flatMap(([, y]) => y);
  const expected = torch.tidy(() => categoryRelationship(torch.tensor(Float32Array.from(probs), { shape: [12, 6] }), torch.tensor(labels).long(), 2).toArray());

  const model = coTuningModel(net, source, { lambda: 2.3 });
  await model.prepare(data);
  close(model.module.relationship.toArray(), expected, 1e-6, 'relationship');
  close(model.module.relationship.sum(1).toArray(), [1, 1], 1e-6, 'rows are distributions');

  model.setTraining(true);
  torch.tidy(() => {
    const x = torch.tensor(Float32Array.from(data.batches[0][0]), { shape: [4, 1, 28, 28] });
    const y = torch.tensor([1, 0, 0, 1]).long();
    const out = model.forwardTrain(x);
    assert.deepEqual(out.sourceLogits.shape, [4, 6]);
    const rows = torch.tensor(Float32Array.from([1, 0, 0, 1].flatMap((t) => expected.slice(t * 6, t * 6 + 6))), { shape: [4, 6] });
    const direct = softCrossEntropy(out.sourceLogits, rows).item() * 2.3;
    assert.ok(Math.abs(model.regularizer(out, y).item() - direct) < 1e-5);
    // Gradients reach the source classifier.
    model.regularizer(out, y).backward();
    assert.ok(model.module.sourceFc.weight.grad!.abs().sum().item() > 0);
  });

  // A trained run opens without the source file: the source classifier is sized from the checkpoint.
  const sd = torch.tidy(() => new Map([...model.module.stateDict()].map(([k, t]) => [k, torch.keep(t.clone())])));
  const reopened = coTuningModel(resnet26({ numClasses: 2, inChannels: 1, width: 0.25 }), resnet26({ numClasses: 2, inChannels: 1, width: 0.25 }), { lambda: 2.3 });
  reopened.module.loadStateDict(sd);
  assert.deepEqual(reopened.module.relationship.toArray(), model.module.relationship.toArray());
  assert.deepEqual(reopened.module.sourceFc.weight.shape, [6, 64]);
  torch.dispose([...sd.values()]);
  reopened.dispose();
  model.dispose();
});
