// DELTA: the attention-weighted feature-map distance against TLlib's
// AttentionBehavioralRegularization run in PyTorch, its gradient by finite differences, the
// channel attention's softmax against numpy, the stages, the whole regulariser against a
// direct computation, and prepare()'s attention against the loss increases computed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { gradcheck } from '../../src/torch/gradcheck.js';
import { Linear } from '../../src/nn/index.js';
import { resnet18, resnet26 } from '../../src/models/index.js';
import { DeltaModel, attentionFeatureDistance, channelAttention, defaultDeltaOptions, stageEnds, type TrainingSet } from '../../src/spottune/index.js';
import { pytorch, values } from './reference.js';

// Two layers: [B=2, C=3, H=2, W=3] and [2, 2, 1, 2].
const shapes = [[2, 3, 2, 3], [2, 2, 1, 2]];
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const tgt = shapes.map((s, i) => values(size(s), 10 + i));
const src = shapes.map((s, i) => values(size(s), 20 + i));
const att = [[0.5, 0.3, 0.2], [0.9, 0.1]];
const f64 = (v: number[], shape: number[]) => torch.tensor(Float64Array.from(v), { shape });

test('the feature-map distance equals TLlib\'s AttentionBehavioralRegularization in PyTorch', () => {
  const expected = pytorch(`
output = 0.0
for t, s, a, shape in zip(data['t'], data['s'], data['a'], data['shapes']):
    fm_tgt = torch.tensor(t).reshape(shape); fm_src = torch.tensor(s).reshape(shape)
    b, c, h, w = fm_src.shape
    fm_src = fm_src.reshape(b, c, h * w); fm_tgt = fm_tgt.reshape(b, c, h * w)
    distance = torch.norm(fm_tgt - fm_src.detach(), 2, 2)
    distance = c * torch.mul(torch.tensor(a), distance ** 2) / (h * w)
    output += 0.5 * torch.sum(distance)
print(json.dumps(float(output)))`, { t: tgt, s: src, a: att, shapes });
  torch.tidy(() => {
    const got = attentionFeatureDistance(tgt.map((v, i) => f64(v, shapes[i])), src.map((v, i) => f64(v, shapes[i])), att.map((a) => torch.tensor(Float64Array.from(a)))).item();
    assert.ok(Math.abs(got - expected) < 1e-12 * expected, `${got} vs ${expected}`);
  });
});

test('its gradient with respect to the fine-tuned maps matches finite differences; none flows to the source maps', () => {
  const s = src.map((v, i) => f64(v, shapes[i]));
  const a = att.map((x) => torch.tensor(Float64Array.from(x)));
  const r = gradcheck((t0, t1) => attentionFeatureDistance([t0, t1], s, a), tgt.map((v, i) => f64(v, shapes[i])));
  assert.ok(r.ok, r.failure);
  torch.tidy(() => {
    const sg = f64(src[0], shapes[0]).requiresGrad_(true);
    const tg = f64(tgt[0], shapes[0]).requiresGrad_(true);
    attentionFeatureDistance([tg], [sg], [a[0]]).backward();
    assert.ok(tg.grad !== undefined && sg.grad === undefined);
  });
});

test('channel attention = softmax(standardise(Δ) / 5), numpy\'s population std, as TLlib', () => {
  const delta = [0.3, -0.1, 0.05, 1.2, 0];
  const expected = pytorch(`
w = np.array(data); w = (w - np.mean(w)) / np.std(w)
print(json.dumps(torch.nn.functional.softmax(torch.from_numpy(w).float() / 5, dim=0).tolist()))`, delta);
  torch.tidy(() => {
    const got = channelAttention(Float64Array.from(delta)).toArray();
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) < 1e-7, `${i}: ${g} vs ${expected[i]}`));
  });
});

test('stages: the last block of each of ResNet-26\'s three stages and ResNet-18\'s four', () => {
  const a = resnet26({ numClasses: 2, inChannels: 1, width: 0.25 });
  const b = resnet18({ numClasses: 2 });
  assert.deepEqual(stageEnds(a), [3, 7, 11]);
  assert.deepEqual(stageEnds(b), [1, 3, 5, 7]);
  a.dispose();
  b.dispose();
});

function pair(seed: number, attentionEpochs = 10): DeltaModel {
  torch.manualSeed(seed);
  const net = resnet26({ numClasses: 3, inChannels: 1, width: 0.25 });
  const source = resnet26({ numClasses: 3, inChannels: 1, width: 0.25 });
  torch.tidy(() => source.loadStateDict(net.stateDict()));
  return new DeltaModel(net, source, { ...defaultDeltaOptions, alpha: 0.7, beta: 0.3, alphaSp: 0.2, attentionEpochs });
}

test('the regulariser: α·distance of the stage outputs to the frozen source\'s + β/2‖head‖² + α_sp/2‖w − w⁰‖²', () => {
  const model = pair(4);
  const net = model.module;
  model.setTraining(true);
  torch.tidy(() => {
    const x = torch.randn([4, 1, 28, 28]);
    const head = net.fc.parameters().reduce((s, p) => s + p.square().sum().item(), 0);
    // Before any change the two networks agree (same weights; the source in evaluation mode, so compare in evaluation mode).
    model.setTraining(false);
    const same = model.forwardTrain(x);
    assert.ok(Math.abs(model.regularizer(same).item() - 0.3 / 2 * head) < 1e-6);
    model.setTraining(true);
    const w = net.blocks[5].parameters()[0];
    torch.noGrad(() => w.add_(0.01));
    const out = model.forwardTrain(x);
    assert.deepEqual(out.maps.map((m) => m.shape[1]), [16, 32, 64]);
    const attention = [0, 1, 2].map((i) => net.namedBuffers().find(([k]) => k === `deltaAttention${i}`)![1]);
    attention.forEach((a) => assert.ok(Math.abs(a.sum().item() - 1) < 1e-6, 'uniform until prepare()'));
    const sp = 0.01 ** 2 * w.numel;
    const direct = 0.7 * attentionFeatureDistance(out.maps, out.sourceMaps, attention).item() + 0.3 / 2 * head + 0.2 / 2 * sp;
    assert.ok(attentionFeatureDistance(out.maps, out.sourceMaps, attention).item() > 0);
    const got = model.regularizer(out).item();
    assert.ok(Math.abs(got - direct) < 1e-5 * direct, `${got} vs ${direct}`);
  });
  model.dispose();
});

test('prepare(): the attention from each channel\'s loss increase when it is zeroed in the frozen source (classifier as trained: here 0 epochs)', async () => {
  const model = pair(5, 0);
  torch.manualSeed(6);
  const x = torch.keep(torch.randn([6, 1, 28, 28]));
  const y = torch.keep(torch.tensor([0, 1, 2, 0, 1, 2]).long());
  const data: TrainingSet = { numClasses: 3, forEach: async (fn) => torch.tidy(() => fn(x, y)) };
  const source = resnet26({ numClasses: 3, inChannels: 1, width: 0.25 });
  torch.tidy(() => source.loadStateDict(model.module.stateDict(), { strict: false }));
  source.eval();
  // The classifier prepare() draws first, drawn here from the same generator state.
  torch.manualSeed(7);
  const classifier = new Linear(64, 3);
  torch.manualSeed(7);
  await model.prepare(data);
  const expected = torch.tidy(() => torch.noGrad(() => {
    const loss = (maps: Tensor, from: number) => {
      let h = maps;
      for (let l = from + 1; l < 12; l++) h = source.blocks[l].forward(h);
      return torch.crossEntropy(classifier.forward(source.features(h)), y).item();
    };
    let h = source.stem(x);
    const stageOut: Tensor[] = [];
    source.blocks.forEach((b, l) => { h = b.forward(h); if ([3, 7, 11].includes(l)) stageOut.push(h); });
    const base = loss(h, 11);
    return [3, 7, 11].map((end, i) => {
      const C = stageOut[i].shape[1];
      const d = Float64Array.from({ length: C }, (_, c) => {
        const m = stageOut[i].clone();
        m.select(1, c).zero_();
        return loss(m, end) - base;
      });
      return channelAttention(d).toArray();
    });
  }));
  const got = [0, 1, 2].map((i) => model.module.namedBuffers().find(([k]) => k === `deltaAttention${i}`)![1].toArray());
  got.forEach((g, i) => g.forEach((v, c) => assert.ok(Math.abs(v - expected[i][c]) < 1e-6, `stage ${i} channel ${c}: ${v} vs ${expected[i][c]}`)));
  assert.ok(got.every((g) => Math.max(...g) > Math.min(...g) * 1.05), 'channels differ in attention');
  torch.dispose([x, y]);
  classifier.dispose();
  source.dispose();
  model.dispose();
});
