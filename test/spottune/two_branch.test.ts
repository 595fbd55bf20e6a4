// The two-branch network, the SpotTune model and the methods' builder beyond what the oracle
// pins (test/spottune/oracle.test.ts): refused inputs, routed inference image by image, the
// frozen branch's batch norm in 'eval', evaluation routings, the random policy, the warm-up and
// temperature schedule, parameter groups, and the options each SpotTune method passes on.
// Expected values come from the definitions (one image at a time, hand-computed Gumbel samples
// in float64 from the given uniform draws), not from the code under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { Agent, createBackbone, type Backbone } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet, buildMethod, evalRoutingOf, globalKLoss, type StrategyContext } from '../../src/spottune/index.js';

const L = 12; // blocks of Rebuffi's ResNet-26
const make = (inChannels = 3) => createBackbone('resnet26', { numClasses: 3, inChannels, width: 0.125 });
const maxDiff = (a: Tensor, b: Tensor) => torch.tidy(() => a.sub(b).abs().max().item());
const rows = (t: Tensor, cols: number) => { const v = t.toArray(); return Array.from({ length: v.length / cols }, (_, i) => v.slice(i * cols, (i + 1) * cols)); };

/** A two-branch net whose fine-tuned blocks differ from the frozen ones; `ref` holds the source's weights. */
function twoBranch(frozenBn?: 'train' | 'eval'): { net: TwoBranchNet; ref: Backbone; source: Backbone } {
  torch.manualSeed(11);
  const tuned = make();
  const source = make();
  const ref = make();
  ref.loadStateDict(source.stateDict());
  return { net: new TwoBranchNet(tuned, source, frozenBn ? { frozenBn } : {}), ref, source };
}

/** Block l of image i by the definition: the chosen branch only, one image at a time. */
function perImage(net: TwoBranchNet, x: Tensor, d: number[][]): Tensor {
  return torch.noGrad(() => torch.cat(d.map((row, i) => {
    let h = net.net.stem(x.narrow(0, i, 1));
    row.forEach((c, l) => { h = (c === 1 ? net.net.blocks[l] : net.frozen.at(l)).forward(h); });
    return net.net.head(h);
  }), 0));
}

/** Hand-computed Gumbel sample of block l, image i: softmax((log α + G)/τ) from U, in float64. */
function gumbel(logits: number[], u: number[], tau: number): { soft: number; hard: number } {
  const g = (v: number) => -Math.log(-Math.log(v + 1e-20) + 1e-20);
  const z0 = logits[0] + g(u[0]);
  const z1 = logits[1] + g(u[1]);
  return { soft: 1 / (1 + Math.exp((z0 - z1) / tau)), hard: z1 > z0 ? 1 : 0 };
}

test('backbones of different depths and decisions of another shape are refused, by name', () => {
  torch.tidy(() => {
    assert.throws(() => new TwoBranchNet(make(), createBackbone('resnet18', { numClasses: 3 })), /^Error: TwoBranchNet: the two backbones have different numbers of blocks$/);
    const { net } = twoBranch();
    const x = torch.zeros([2, 3, 8, 8]);
    for (const [shape, got] of [[[2, 11], '2, 11'], [[3, 12], '3, 12'], [[2, 12, 1], '2, 12, 1'], [[24], '24']] as const) {
      const message = `TwoBranchNet: decisions must have shape [2, 12], got [${got}]`;
      assert.throws(() => net.forward(x, torch.zeros([...shape])), new Error(message));
      net.eval();
      assert.throws(() => net.routedForward(x, torch.zeros([...shape])), new Error(message));
      net.train();
    }
    assert.throws(() => net.routedForward(x, torch.zeros([2, 12])), new Error('routedForward needs evaluation mode (call eval()): in training, batch norm mixes images'));
    net.dispose();
  });
});

test('a new two-branch net trains; the source gives up its stem and head; frozen convolutions, and with frozenBn "eval" batch norms, are frozen', () => {
  torch.tidy(() => {
    for (const frozenBn of [undefined, 'train', 'eval'] as const) {
      const { net, source } = twoBranch(frozenBn);
      assert.equal(net.frozenBn, frozenBn ?? 'train');
      const bns = new Set<unknown>(net.frozen.modules().filter((m) => m instanceof BatchNorm2d));
      assert.equal(bns.size, 24);
      const training = () => net.modules().every((m) => m.training === !(frozenBn === 'eval' && bns.has(m)));
      assert.ok(training(), 'in training mode (the frozen batch norms in evaluation mode with "eval")');
      const kept = new Set(net.frozen.parameters());
      const given = source.parameters().filter((p) => !kept.has(p));
      assert.ok(given.length > 0 && given.every((p) => p.isDisposed), 'the source stem and head are freed');
      assert.ok([...kept].every((p) => !p.isDisposed));
      for (const [k, p] of net.frozen.namedParameters()) assert.equal(p.frozen, k.includes('conv') || frozenBn === 'eval', k);
      assert.ok(net.net.parameters().every((p) => !p.frozen), 'the fine-tuned network trains');
      net.train(false);
      assert.ok(net.modules().every((m) => !m.training));
      net.train();
      assert.ok(training());
      net.dispose();
    }
  });
});

test('routed inference and the mixed forward pass give, per image, the network of its chosen blocks', () => {
  torch.tidy(() => {
    const { net } = twoBranch();
    net.eval();
    const x = torch.randn([4, 3, 8, 8]);
    // block 0: every image fine-tuned; block 1: none; the others mixed
    const d = [0, 1, 2, 3].map((i) => Array.from({ length: L }, (_, l) => (l === 0 ? 1 : l === 1 ? 0 : (i + l) % 3 === 0 ? 1 : 0)));
    const decisions = torch.tensor(d.flat(), { shape: [4, L] });
    const expected = perImage(net, x, d);
    assert.ok(maxDiff(net.routedForward(x, decisions), expected) < 1e-5);
    assert.ok(maxDiff(torch.noGrad(() => net.forward(x, decisions)), expected) < 1e-5);
    for (const c of [0, 1]) {
      const all = Array.from({ length: 4 }, () => Array(L).fill(c));
      assert.ok(maxDiff(net.routedForward(x, torch.full([4, L], c)), perImage(net, x, all)) < 1e-5, `every decision ${c}`);
    }
    net.dispose();
  });
});

test('routed evaluation runs only the chosen branch: a broken frozen block does not reach images that skip it', () => {
  torch.tidy(() => {
    const m = agentModel({ evalRouting: 'finetuned' });
    m.setTraining(false);
    torch.noGrad(() => (m.module.frozen.at(0) as unknown as { conv1: { weight: Tensor } }).conv1.weight.fill_(NaN));
    const x = torch.randn([2, 3, 8, 8]);
    const out = m.forwardEval(x);
    assert.ok(out.logits.toArray().every(Number.isFinite));
    assert.ok(maxDiff(out.logits, perImage(m.module, x, rows(out.decisions, L))) < 1e-5);
    m.routed = false;
    assert.ok(m.forwardEval(x).logits.toArray().every(Number.isNaN), 'both branches computed: the broken one reaches the output');
    m.dispose();
  });
});

test('frozenBn "eval": in training the frozen blocks use and keep their running statistics; "train" updates them', () => {
  torch.tidy(() => {
    for (const frozenBn of ['eval', 'train'] as const) {
      const { net, ref } = twoBranch(frozenBn);
      const before = [...net.frozen.stateDict()].filter(([k]) => k.includes('running')).map(([k, t]) => [k, t.clone()] as const);
      const x = torch.randn([4, 3, 8, 8]);
      const out = net.forward(x, torch.zeros([4, L]));
      out.sum().backward();
      const after = net.frozen.stateDict();
      for (const [k, t] of before) assert.equal(maxDiff(after.get(k)!, t) === 0, frozenBn === 'eval', `${k} ${frozenBn === 'eval' ? 'kept' : 'updated'}`);
      for (const p of net.frozen.parameters()) assert.equal(p.grad !== undefined, !p.frozen);
      if (frozenBn === 'eval') {
        // the pre-trained blocks in evaluation mode after the (training-mode) shared stem
        ref.eval();
        const expected = torch.noGrad(() => {
          let h = net.net.stem(x);
          for (const b of ref.blocks) h = b.forward(h);
          return net.net.head(h);
        });
        assert.ok(maxDiff(out, expected) < 1e-5);
      }
      net.dispose();
    }
  });
});

function agentModel(o: Partial<ConstructorParameters<typeof SpotTuneModel>[2]> = {}): SpotTuneModel {
  const { net } = twoBranch();
  const agent = new Agent({ numBlocks: L, width: 0.125 });
  return new SpotTuneModel(net, { kind: 'agent', agent }, { tau: 5, evalRouting: 'argmax', ...o });
}

test('evaluation routings: argmax, sample (from the given draws), average (fresh draws), finetuned, frozen, the default', () => {
  torch.tidy(() => {
    const m = agentModel({ tau: 2, evalRouting: 'frozen' });
    m.setTraining(false);
    const x = torch.randn([3, 3, 8, 8]);
    const u = torch.rand([3, L, 2]);
    const logits = rows(torch.noGrad(() => m.policyLogits(x)), 2);
    const draws = rows(u, 2);
    const argmax = logits.map(([a, b]) => (b > a ? 1 : 0));
    const sample = logits.map((z, j) => gumbel(z, draws[j], 2).hard);
    torch.manualSeed(5);
    const fresh = rows(torch.rand([3, L, 2]), 2);
    const average = logits.map((z, j) => gumbel(z, fresh[j], 2).hard);
    const expected = { argmax, sample, average, finetuned: Array(3 * L).fill(1), frozen: Array(3 * L).fill(0) };
    for (const [routing, want] of Object.entries(expected) as [keyof typeof expected, number[]][]) {
      torch.manualSeed(5);
      assert.deepEqual(m.evalDecisions(x, routing, u).toArray(), want, `evalDecisions ${routing}`);
      if (routing === 'average') continue;
      const out = m.forwardEval(x, routing, u);
      assert.deepEqual(out.decisions.toArray(), want, `forwardEval ${routing}`);
      assert.deepEqual(out.decisions.shape, [3, L]);
      assert.ok(maxDiff(out.logits, perImage(m.module, x, rows(out.decisions, L))) < 1e-5, `${routing} logits`);
      assert.equal(out.policyLogits === undefined, routing === 'finetuned' || routing === 'frozen');
      m.routed = false;
      assert.ok(maxDiff(m.forwardEval(x, routing, u).logits, out.logits) < 1e-5, `${routing}, both branches computed`);
      m.routed = true;
    }
    assert.deepEqual(m.evalDecisions(x).toArray(), expected.frozen, 'the model\'s evalRouting by default');
    assert.deepEqual(m.forwardEval(x).decisions.toArray(), expected.frozen);
    m.dispose();
  });
});

test('training decisions: the hard sample of the given draws; the soft one during warmupMixed epochs; τ annealed per epoch', () => {
  torch.tidy(() => {
    const m = agentModel({ tau: 4, tauAnneal: { rate: 0.5, min: 1 }, warmupMixed: 2 });
    m.setTraining(true);
    const x = torch.randn([3, 3, 8, 8]);
    const u = torch.rand([3, L, 2]);
    const draws = rows(u, 2);
    for (const [epoch, tau, soft] of [[0, 4, true], [1, 4 * Math.exp(-0.5), true], [2, 4 * Math.exp(-1), false], [5, 1, false]] as const) {
      m.startEpoch(epoch);
      assert.ok(Math.abs(m.tau - tau) < 1e-12, `τ at epoch ${epoch}: ${m.tau}`);
      const out = m.forwardTrain(x, u);
      const logits = rows(out.policyLogits!, 2);
      assert.ok(maxDiff(out.policyLogits!, torch.noGrad(() => m.policyLogits(x))) < 1e-6);
      const want = logits.map((z, j) => gumbel(z, draws[j], tau)[soft ? 'soft' : 'hard']);
      const got = out.decisions.toArray();
      assert.deepEqual(out.decisions.shape, [3, L]);
      want.forEach((w, j) => assert.ok(Math.abs(got[j] - w) < 1e-6, `epoch ${epoch}, decision ${j}: ${got[j]} vs ${w}`));
      assert.ok(maxDiff(out.logits, m.module.forward(x, out.decisions)) < 1e-5);
    }
    const plain = agentModel({ tau: 4 });
    plain.setTraining(true);
    assert.ok(plain.forwardTrain(x, u).decisions.toArray().every((v) => v === 0 || v === 1), 'no warm-up: hard decisions from epoch 0');
    m.dispose();
    plain.dispose();
  });
});

const ctx: StrategyContext = {
  // like two loads of one weights file: the same values on every call
  pretrained: () => { torch.manualSeed(21); return make(1); },
  source: () => { throw new Error('unused'); },
  deeper: () => { throw new Error('unused'); },
  scratch: () => make(1),
  numClasses: 3, inChannels: 1, seed: 0,
};

test('random-policy: the last three blocks always fine-tuned, a fair coin per image for the others; no policy network', () => {
  torch.tidy(() => {
    const m = buildMethod('random-policy', ctx) as SpotTuneModel;
    const x = torch.randn([400, 1, 4, 4]);
    m.setTraining(false);
    const runs = [['training', () => m.forwardTrain(x).decisions], ['evaluation', () => m.evalDecisions(x, 'argmax')], ['forwardEval', () => m.forwardEval(x).decisions]] as const;
    for (const [name, run] of runs) {
      torch.manualSeed(7);
      const d = rows(run(), L);
      torch.manualSeed(7);
      const coins = rows(torch.bernoulli(torch.empty([400, L - 3]), 0.5), L - 3);
      assert.deepEqual(d, coins.map((c) => [...c, 1, 1, 1]), name);
      const mean = coins.flat().reduce((a, b) => a + b) / coins.flat().length;
      assert.ok(Math.abs(mean - 0.5) < 0.02, `a fair coin: ${mean}`);
    }
    const small = torch.randn([2, 1, 8, 8]);
    m.setTraining(true);
    torch.manualSeed(8);
    const out = m.forwardTrain(small);
    assert.ok(maxDiff(out.logits, m.module.forward(small, out.decisions)) < 1e-5);
    assert.equal(out.policyLogits, undefined);
    assert.throws(() => m.policyLogits(small), /^Error: this model has no policy network$/);
    assert.deepEqual(m.paramGroups().map((g) => g.role), ['net']);
    assert.equal(m.regularizer(out), undefined);
    m.dispose();
  });
});

test('parameter groups: the policy network alone in the agent group; layers: block l holds both branches\' trainable parameters', () => {
  torch.tidy(() => {
    const m = buildMethod('spottune', ctx) as SpotTuneModel;
    const agent = new Set((m.module.children().find((c) => c instanceof Agent) as Agent).parameters());
    const [net, agentGroup] = m.paramGroups();
    assert.deepEqual([net.role, agentGroup.role], ['net', 'agent']);
    assert.deepEqual(new Set(agentGroup.params), agent);
    const trainable = m.module.parameters().filter((p) => !p.frozen && !agent.has(p));
    assert.deepEqual(new Set(net.params), new Set(trainable));
    assert.equal(net.params.length, trainable.length);
    const layers = m.layers();
    assert.equal(layers.length, L + 2);
    for (let l = 0; l < L; l++) assert.deepEqual(new Set(layers[l + 1]), new Set([...m.module.net.blocks[l].parameters(), ...m.module.frozen.at(l).parameters()]), `block ${l}`);
    assert.deepEqual(new Set(layers.flat()), new Set(m.module.parameters().filter((p) => !agent.has(p))));
    m.dispose();
  });
});

test('the SpotTune methods pass their options on: defaults, τ and its schedule, batch norm, routing, samples, agent, warm-up, Global-k', () => {
  torch.tidy(() => {
    const x = torch.randn([2, 1, 8, 8]);
    const d = torch.tensor([[1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1], [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1]]);
    const handGlobalK = (k: number, l1: number, l2: number) => {
      const v = rows(d, L).reduce((s, r) => s.map((a, l) => a + r[l] / 2), Array(L).fill(0));
      return l1 * (v.reduce((a, b) => a + b) - k) ** 2 - l2 * v.reduce((s, a) => s + (a > 0 ? a * Math.log(a) : 0), 0);
    };
    const defaults = buildMethod('spottune', ctx) as SpotTuneModel;
    assert.equal(defaults.tau, 5);
    defaults.startEpoch(3);
    assert.equal(defaults.tau, 5, 'no annealing by default');
    assert.equal(defaults.module.frozenBn, 'train');
    assert.equal(defaults.regularizer({ logits: x, decisions: d }), undefined);
    defaults.setTraining(false);
    const argmax = rows(torch.noGrad(() => defaults.policyLogits(x)), 2).map(([a, b]) => (b > a ? 1 : 0));
    assert.deepEqual(defaults.forwardEval(x).decisions.toArray(), argmax, 'argmax routing by default');
    const agent = defaults.module.children().find((c) => c instanceof Agent) as Agent;
    assert.equal(agent.inputSize, undefined);
    const width1 = new Agent({ numBlocks: L, inChannels: 1, width: 1 });
    assert.deepEqual(agent.parameters().map((p) => p.shape), width1.parameters().map((p) => p.shape), 'agent width 1 by default');
    defaults.dispose();

    const m = buildMethod('spottune', ctx, {
      tau: 2, tauAnneal: { rate: 1, min: 0.5 }, frozenBn: 'eval', evalRouting: 'average', evalSamples: 3, agentWidth: 0.5, agentInputSize: 6, agentBias: 1.5, warmupMixed: 1,
    }) as SpotTuneModel;
    assert.equal(m.tau, 2);
    m.startEpoch(1);
    assert.ok(Math.abs(m.tau - 2 * Math.exp(-1)) < 1e-12);
    m.startEpoch(0);
    assert.equal(m.module.frozenBn, 'eval');
    const a = m.module.children().find((c) => c instanceof Agent) as Agent;
    assert.equal(a.inputSize, 6);
    assert.deepEqual(a.parameters().map((p) => p.shape), new Agent({ numBlocks: L, inChannels: 1, width: 0.5 }).parameters().map((p) => p.shape));
    assert.deepEqual(a.fc.bias!.toArray(), Array.from({ length: 2 * L }, (_, i) => (i % 2 === 1 ? 1.5 : 0)));
    m.setTraining(true);
    assert.ok(m.forwardTrain(x).decisions.toArray().some((v) => v > 0 && v < 1), 'warm-up epoch 0: soft weights');
    m.setTraining(false);
    torch.manualSeed(4);
    const out = m.forwardEval(x);
    torch.manualSeed(4);
    const logits = rows(torch.noGrad(() => m.policyLogits(x)), 2);
    const samples = [0, 1, 2].map(() => { const u = rows(torch.rand([2, L, 2]), 2); return logits.map((z, j) => gumbel(z, u[j], 2).hard); });
    const mean = samples[0].map((_, j) => (samples[0][j] + samples[1][j] + samples[2][j]) / 3);
    const got = out.decisions.toArray();
    mean.forEach((v, j) => assert.ok(Math.abs(got[j] - v) < 1e-6, `average of 3 samples, decision ${j}`));
    // the log of the mean class probabilities of the three routings
    const probs = samples.map((d) => rows(perImage(m.module, x, rows(torch.tensor(d), L)).softmax(1), 3));
    const logMean = probs[0].flatMap((r, i) => r.map((_, k) => Math.log((probs[0][i][k] + probs[1][i][k] + probs[2][i][k]) / 3)));
    assert.ok(maxDiff(out.logits, torch.tensor(logMean, { shape: [2, 3] })) < 1e-5, 'average: log of the mean probabilities');
    const params = m.module.parameters();
    m.dispose();
    assert.ok(params.every((p) => p.isDisposed), 'dispose frees both branches and the policy network');

    const gk = buildMethod('spottune-global-k', ctx) as SpotTuneModel;
    assert.ok(Math.abs(gk.regularizer({ logits: x, decisions: d })!.item() - handGlobalK(4, 0.1, 0.1)) < 1e-6, 'Global-k defaults k = 4, λ1 = λ2 = 0.1');
    gk.dispose();
    const gk2 = buildMethod('spottune-global-k', ctx, { k: 2, lambda1: 0.3, lambda2: 0.7 }) as SpotTuneModel;
    assert.ok(Math.abs(gk2.regularizer({ logits: x, decisions: d })!.item() - handGlobalK(2, 0.3, 0.7)) < 1e-6);
    assert.ok(Math.abs(globalKLoss(d, { k: 2, lambda1: 0.3, lambda2: 0.7 }).item() - handGlobalK(2, 0.3, 0.7)) < 1e-6);
    gk2.dispose();

    const ft = buildMethod('spottune-finetuned', ctx) as SpotTuneModel;
    ft.setTraining(false);
    assert.deepEqual(ft.forwardEval(x).decisions.toArray(), Array(2 * L).fill(1), 'spottune-finetuned evaluates on the fine-tuned blocks');
    ft.dispose();
  });
});

test('one rule for the routing at evaluation: --routing, else the run\'s; none for one-network methods', () => {
  assert.equal(evalRoutingOf({ method: 'spottune', evalRouting: 'sample' }), 'sample');
  assert.equal(evalRoutingOf({ method: 'spottune', evalRouting: 'sample' }, 'frozen'), 'frozen');
  assert.equal(evalRoutingOf({ method: 'random-policy', evalRouting: 'argmax' }, 'finetuned'), 'finetuned');
  assert.equal(evalRoutingOf({ method: 'finetune' }), undefined);
  assert.throws(() => evalRoutingOf({ method: 'finetune' }, 'frozen'), new Error('--routing frozen: method finetune trains one network, which has no routing (only two-branch methods do)'));
});
