// The method's invariants: straight-through gradients reach the policy, frozen weights stay
// bit-identical, copies start equal, forced decisions reproduce the plain networks, routed
// inference equals the two-branch computation, Global-k matches a hand computation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { Agent, resnet18, resnet26, type Backbone } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet, globalKLoss, gumbelSoftmaxHard } from '../../src/spottune/index.js';

/** Two backbones with identical (random, non-trivial) weights, like two loads of one file. */
function twins(make: () => Backbone): [Backbone, Backbone] {
  const a = make();
  const b = make();
  torch.tidy(() => b.loadStateDict(a.stateDict()));
  return [a, b];
}

function spotTune(make: () => Backbone, frozenBn: 'train' | 'eval' = 'train'): SpotTuneModel {
  const [a, b] = twins(make);
  const net = new TwoBranchNet(a, b, { frozenBn });
  const agent = new Agent({ numBlocks: net.numBlocks, width: 0.25 });
  return new SpotTuneModel(net, { kind: 'agent', agent }, { tau: 5, evalRouting: 'argmax' });
}

const maxDiff = (a: Tensor, b: Tensor) => torch.tidy(() => a.sub(b).abs().max().item());
const small = () => resnet26({ numClasses: 5, width: 0.25 });

test('gumbel-softmax: hard one-hot forward, soft gradient backward', () => {
  torch.tidy(() => {
    torch.manualSeed(0);
    const logits = torch.randn([4, 3, 2]).requiresGrad_();
    const y = gumbelSoftmaxHard(logits, 5);
    assert.deepEqual([...new Set(y.toArray())].sort(), [0, 1]);
    assert.deepEqual(y.sum(2).toArray(), Array(12).fill(1));
    y.select(2, 1).mul(torch.randn([4, 3])).sum().backward();
    assert.ok(logits.grad!.abs().sum().item() > 0, 'gradient reaches the logits');
  });
});

test('the policy network receives non-zero gradients through the straight-through estimator', () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    const m = spotTune(small);
    // At initialisation both branches are equal, so d(output)/d(decision) is exactly 0;
    // as after a first update, make the fine-tuned branch differ.
    torch.noGrad(() => { for (const p of m.module.net.blocks.flatMap((b) => b.parameters())) p.add_(torch.randnLike(p).mul(0.05)); });
    m.setTraining(true);
    const out = m.forwardTrain(torch.randn([6, 3, 16, 16]));
    torch.crossEntropy(out.logits, torch.tensor([0, 1, 2, 3, 4, 0], { dtype: 'int64' })).backward();
    const agentGroup = m.paramGroups().find((g) => g.role === 'agent')!;
    const total = agentGroup.params.reduce((s, p) => s + (p.grad ? p.grad.abs().sum().item() : 0), 0);
    assert.ok(total > 0, 'agent parameters got gradients');
    assert.ok(agentGroup.params.every((p) => p.grad !== undefined), 'every agent parameter got a gradient');
    m.dispose();
  });
});

test('at initialisation the fine-tuned copies equal the frozen blocks; after training, frozen weights are bit-identical', () => {
  torch.tidy(() => {
    torch.manualSeed(2);
    const m = spotTune(small);
    const net = m.module;
    const frozenBefore = new Map([...net.frozen.stateDict()].map(([k, v]) => [k, v.clone()]));
    net.net.blocks.forEach((b, l) => {
      const tuned = b.stateDict();
      for (const [k, v] of net.frozen.at(l).stateDict()) assert.equal(maxDiff(v, tuned.get(k)!), 0, `block ${l} ${k}`);
    });
    const convWeights = net.frozen.namedParameters().filter(([k]) => k.includes('conv'));
    assert.ok(convWeights.length > 0 && convWeights.every(([, p]) => p.frozen), 'frozen convolutions get no gradient');
    const groups = m.paramGroups();
    const opts = groups.map((g) => new SGD(g.params, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }));
    m.setTraining(true);
    for (let step = 0; step < 3; step++) {
      torch.tidy(() => {
        const out = m.forwardTrain(torch.randn([8, 3, 16, 16]));
        opts.forEach((o) => o.zeroGrad());
        torch.crossEntropy(out.logits, torch.randint(0, 5, [8])).backward();
        opts.forEach((o) => o.step());
      });
    }
    for (const [k, v] of net.frozen.namedParameters()) {
      if (k.includes('conv')) assert.equal(maxDiff(v, frozenBefore.get(k)!), 0, `${k} changed`);
    }
    assert.ok(net.net.blocks[0].parameters().some((p, i) => maxDiff(p, net.frozen.at(0).parameters()[i]) > 0), 'fine-tuned copies did move');
    opts.forEach((o) => o.dispose());
    m.dispose();
  });
});

for (const [name, make] of [['ResNet-26 (pooled shortcuts)', small], ['ResNet-18 (downsample convs)', () => resnet18({ numClasses: 5 })]] as const) {
  test(`${name}: decisions forced to 0 give the pre-trained network, forced to 1 the fine-tuned one`, () => {
    torch.tidy(() => {
      torch.manualSeed(3);
      const [source, copy] = twins(make as () => Backbone);
      const reference = (make as () => Backbone)();
      reference.loadStateDict(source.stateDict());
      // make the fine-tuned branch differ from the frozen one
      torch.noGrad(() => { for (const p of source.blocks.flatMap((b) => b.parameters())) p.add_(torch.randnLike(p).mul(0.05)); });
      const tunedReference = (make as () => Backbone)();
      tunedReference.loadStateDict(source.stateDict());
      const net = new TwoBranchNet(source, copy).eval();
      reference.eval();
      tunedReference.eval();
      // the stem and head are shared: copy them into the "pre-trained" reference too
      reference.loadStateDict(new Map([...tunedReference.stateDict()].filter(([k]) => !/^layer/.test(k)).concat([...reference.stateDict()].filter(([k]) => /^layer/.test(k)))));
      const x = torch.randn([3, 3, 32, 32]);
      const L = net.numBlocks;
      torch.noGrad(() => {
        assert.equal(maxDiff(net.forward(x, torch.zeros([3, L])), reference.forward(x)), 0);
        assert.equal(maxDiff(net.forward(x, torch.ones([3, L])), tunedReference.forward(x)), 0);
      });
    });
  });
}

test('routed inference (only the chosen branch per image) equals computing both branches', () => {
  torch.tidy(() => {
    torch.manualSeed(4);
    for (const make of [small, () => resnet18({ numClasses: 5 })]) {
      const m = spotTune(make as () => Backbone);
      m.setTraining(false);
      const x = torch.randn([10, 3, 32, 32]);
      const d = torch.bernoulli(torch.empty([10, m.numBlocks]), 0.5);
      const both = torch.noGrad(() => m.module.forward(x, d));
      const routed = m.module.routedForward(x, d);
      assert.ok(maxDiff(both, routed) < 1e-5, `max difference ${maxDiff(both, routed)}`);
      assert.deepEqual(routed.argmax(1).toArray(), both.argmax(1).toArray());
      assert.throws(() => m.module.train().routedForward(x, d), /evaluation mode/);
      m.dispose();
    }
  });
});

test('frozenBn "eval" keeps the frozen batch norms in evaluation mode and frozen', () => {
  torch.tidy(() => {
    const m = spotTune(small, 'eval');
    m.setTraining(true);
    const bns = m.module.frozen.modules().filter((x) => x.constructor.name === 'BatchNorm2d');
    assert.ok(bns.length > 0 && bns.every((b) => !b.training && b.parameters().every((p) => p.frozen)));
    m.dispose();
  });
});

test('Global-k loss equals a hand computation', () => {
  torch.tidy(() => {
    const d = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 0, 1], [1, 0, 1]]); // v = [0.75, 0.25, 0.75]
    const v = [0.75, 0.25, 0.75];
    const lk = (v.reduce((a, b) => a + b) - 2) ** 2;
    const le = -v.reduce((s, x) => s + x * Math.log(x), 0);
    const got = globalKLoss(d, { k: 2, lambda1: 0.3, lambda2: 0.7 }).item();
    assert.ok(Math.abs(got - (0.3 * lk + 0.7 * le)) < 1e-6, `${got} vs ${0.3 * lk + 0.7 * le}`);
    assert.ok(Math.abs(globalKLoss(torch.tensor([[0, 1]]), { k: 1, lambda1: 1, lambda2: 1 }).item()) < 1e-6, 'v log v is 0 at v = 0 and 1');
  });
});
