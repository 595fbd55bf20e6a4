// The trainer features of issue 19 through the real engine on a tiny run (ResNet-26 at width
// 0.25, 100 UCI digits): gradient accumulation, per-layer learning rates, the weight EMA, early
// stopping, TensorBoard logs, and exact resume with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { makeConfig, type TrainConfig } from '../../src/train/config.js';
import { train, type EpochMetrics } from '../../src/train/engine.js';
import { buildRun } from '../../src/train/build.js';
import { loadCheckpoint, plain } from '../../src/train/checkpoint.js';
import { sourceWeights } from '../source.js';

const { dir, weights } = sourceWeights('spottune-features-');

const config = (o: Partial<TrainConfig>): TrainConfig => makeConfig({ method: 'finetune', arch: 'resnet26', width: 0.25, data: 'digits', perClass: 10, weights, epochs: 2, batchSize: 20, lr: 0.05, schedule: 'constant', seed: 1, ...o });
let runs = 0;
async function run(o: Partial<TrainConfig>, extra: Parameters<typeof train>[2] = {}): Promise<{ out: string; result: Awaited<ReturnType<typeof train>> }> {
  const out = join(dir, `run${runs++}`);
  return { out, result: await train(config(o), out, extra) };
}
const checkpoint = (out: string, name = 'last') => loadCheckpoint(join(out, `${name}.pth`));
const modelOf = (out: string, name = 'last') => checkpoint(out, name).get('model') as Map<string, Tensor>;
const metrics = (out: string): EpochMetrics[] => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

function maxDiff(a: Map<string, Tensor>, b: Map<string, Tensor>): number {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let worst = 0;
  for (const [k, t] of a) if (torch.isFloating(t.dtype)) worst = Math.max(worst, t.sub(b.get(k)!).abs().max().item());
  return worst;
}

test('--accum-steps 4 × batch 10 takes the steps of batch 40 (frozen batch norm): same weights within float rounding, same schedule', async () => {
  const common: Partial<TrainConfig> = { method: 'feature-extractor', epochs: 2, schedule: 'multistep', milestones: [1], gamma: 0.5, evalEvery: 2 };
  const accum = await run({ ...common, batchSize: 10, accumSteps: 4 });
  const large = await run({ ...common, batchSize: 40 });
  torch.tidy(() => {
    const diff = maxDiff(modelOf(accum.out), modelOf(large.out));
    assert.ok(diff < 1e-6, `weights differ by ${diff}`);
    const moved = modelOf(large.out).get('fc.bias')!.sub(buildRun(config(common)).model.module.stateDict().get('fc.bias')!).abs().max().item();
    assert.ok(moved > 1e-3, `the classifier moved by ${moved} (more than the tolerance)`);
  });
  // The schedule steps per epoch; 100 images at an effective batch of 40 (20 dropped) are 2 optimizer steps an epoch in both.
  assert.deepEqual(metrics(accum.out).map((m) => m.lr), [0.05, 0.025]);
  assert.deepEqual(metrics(accum.out).map((m) => m.lr), metrics(large.out).map((m) => m.lr));
  metrics(accum.out).forEach((m, e) => assert.ok(Math.abs(m.trainLoss - metrics(large.out)[e].trainLoss) < 1e-5, `epoch ${e}: train loss`));
  assert.equal(accum.result.testAcc, large.result.testAcc);
});

test('--layer-decay and --lr-backbone: the optimizer groups of SpotTune\'s network, the agent at --lr-agent', async () => {
  const { out } = await run({ method: 'spottune', epochs: 1, lr: 0.1, lrAgent: 0.01, lrBackbone: 0.02, layerDecay: 0.5 });
  const c = plain(checkpoint(out)) as { optimizers: { paramGroups: { lr: number; params: number[] }[] }[] };
  const [net, agent] = c.optimizers;
  // Head, 12 blocks (last first), stem: 0.1, then 0.02 · 0.5^depth.
  assert.deepEqual(net.paramGroups.map((g) => g.lr), [0.1, ...Array.from({ length: 13 }, (_, i) => 0.02 * 0.5 ** (i + 1))]);
  // Head: bn2 and fc (4 tensors); a block: 6 of its own and 4 of the frozen block's batch norm; the stem: 3.
  assert.deepEqual(net.paramGroups.map((g) => g.params.length), [4, ...Array(12).fill(10), 3]);
  assert.deepEqual(agent.paramGroups.map((g) => g.lr), [0.01]);
  assert.equal(metrics(out)[0].lr, 0.1);
});

test('--ema: after one optimizer step, ema.pth = d·w0 + (1 − d)·w1 in float32; evaluated and reported', async () => {
  const d = 0.75;
  const f = Math.fround;
  // 100 images in one batch of 100: exactly one optimizer step.
  const { out, result } = await run({ epochs: 1, batchSize: 100, ema: d });
  const w0 = buildRun(config({ epochs: 1, batchSize: 100, ema: d })).model.module.stateDict();
  torch.tidy(() => {
    const w1 = modelOf(out);
    const ema = modelOf(out, 'ema');
    assert.deepEqual([...ema.keys()], [...w1.keys()]);
    for (const [k, e] of ema) {
      const a = w0.get(k)!.toArray() as number[];
      const b = w1.get(k)!.toArray() as number[];
      const want = k.endsWith('num_batches_tracked') ? b : a.map((v, i) => f(f(v * f(d)) + f(b[i] * f(1 - d))));
      assert.deepEqual(e.toArray(), want, k);
    }
    assert.ok(maxDiff(ema, w1) > 1e-4, 'the average differs from the raw weights');
  });
  const m = metrics(out)[0];
  assert.equal(typeof m.emaTestAcc, 'number');
  assert.equal(result.emaTestAcc, m.emaTestAcc);
  assert.ok(readdirSync(out).includes('ema.pth'));
});

test('--patience: stops once the accuracy has not improved for that many epochs; a resumed stopped run stays stopped', async () => {
  // lr 0 and frozen batch norm: the accuracy never changes, so it never improves after epoch 0.
  const o = { method: 'feature-extractor', lr: 0, epochs: 10, patience: 2 } as const;
  const { out, result } = await run(o);
  assert.equal(result.stoppedEpoch, 2);
  assert.equal(result.bestEpoch, 0);
  assert.deepEqual(metrics(out).map((m) => m.epoch), [0, 1, 2]);
  const again = await train(config(o), out, { resume: true });
  assert.equal(again.stoppedEpoch, 2);
  assert.equal(metrics(out).length, 3);
  // Evaluated every 2 epochs: the check happens at evaluations (epochs 1, 3: stop at 3).
  const sparse = await run({ ...o, evalEvery: 2 });
  assert.equal(sparse.result.stoppedEpoch, 3);
  assert.deepEqual(metrics(sparse.out).map((m) => m.testAcc !== null), [false, true, false, true]);
});

test('interrupted and resumed with --ema, --accum-steps and per-layer rates: the weights and the average of an uninterrupted run', async () => {
  const o = { method: 'finetune', epochs: 2, evalEvery: 2, batchSize: 10, accumSteps: 2, ema: 0.9, layerDecay: 0.7 } as const;
  const straight = await run(o);
  const out = join(dir, 'interrupted');
  await assert.rejects(train(config(o), out, { callbacks: { onEpochEnd: (m) => { if (m.epoch === 0) throw new Error('stop here'); } } }), /stop here/);
  const resumed = await train(config(o), out, { resume: true });
  torch.tidy(() => {
    assert.equal(maxDiff(modelOf(out), modelOf(straight.out)), 0, 'weights');
    assert.equal(maxDiff(modelOf(out, 'ema'), modelOf(straight.out, 'ema')), 0, 'EMA');
  });
  assert.equal(resumed.emaTestAcc, straight.result.emaTestAcc);
});

test('--tensorboard: the decoded event file holds each epoch\'s metrics', async () => {
  // Evaluated at the second epoch only (the test set is 9 times the training set).
  const { out } = await run({ method: 'spottune', epochs: 2, evalEvery: 2, tensorboard: true, ema: 0.5 });
  const files = readdirSync(join(out, 'tb'));
  assert.equal(files.length, 1);
  assert.match(files[0], /^events\.out\.tfevents\.\d+\./);
  const r = spawnSync('/usr/bin/python3', ['test/io/read_tfevents.py', join(out, 'tb', files[0])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const events = JSON.parse(r.stdout) as { step: number; file_version?: string; scalars?: Record<string, number> }[];
  assert.equal(events[0].file_version, 'brain.Event:2');
  const f = Math.fround;
  metrics(out).forEach((m, e) => {
    const ev = events[e + 1];
    assert.equal(ev.step, e + 1);
    const s = ev.scalars!;
    assert.equal(s['train/loss'], f(m.trainLoss));
    assert.equal(s['train/accuracy'], f(m.trainAcc));
    const evaluated = e === 1;
    assert.equal(m.testAcc !== null, evaluated);
    assert.equal(s['test/accuracy'], evaluated ? f(m.testAcc!) : undefined);
    assert.equal(s['test/top5'], evaluated ? f(m.testTop5!) : undefined);
    assert.equal(s['test/ema_accuracy'], evaluated ? f(m.emaTestAcc!) : undefined);
    assert.equal(s['lr/net'], f(m.lr));
    assert.equal(s['lr/agent'], f(m.lrAgent!));
    assert.equal(s.tau, 5);
    assert.equal(s.images_per_sec, f(m.imagesPerSec));
    m.trainBlockFreq.forEach((v, l) => assert.equal(s[`finetune_freq/train/block${l + 1}`], f(v)));
    m.blockFreq?.forEach((v, l) => assert.equal(s[`finetune_freq/test/block${l + 1}`], f(v)));
    assert.equal(Object.keys(s).length, evaluated ? 9 + 2 * 12 : 6 + 12);
  });
  assert.equal(events.length, 3);
  assert.ok(!existsSync(join(dir, 'tb')));
});

test('--nproc 2 with --accum-steps and --ema: the weights and the average of one process (frozen batch norm)', async () => {
  const o = { method: 'feature-extractor', epochs: 1, batchSize: 20, accumSteps: 2, ema: 0.5 } as const;
  const one = await run(o);
  const two = join(dir, 'nproc');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--method', 'feature-extractor', '--data', 'digits', '--per-class', '10', '--width', '0.25',
    '--weights', weights, '--epochs', '1', '--batch-size', '20', '--accum-steps', '2', '--ema', '0.5', '--lr', '0.05', '--schedule', 'constant', '--seed', '1',
    '--quiet', '--output', two, '--nproc', '2'], { encoding: 'utf8', env: { ...process.env, SPOTTUNE_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  torch.tidy(() => {
    for (const name of ['last', 'ema']) {
      const diff = maxDiff(modelOf(one.out, name), modelOf(two, name));
      assert.ok(diff < 1e-6, `${name}: differs by ${diff}`);
    }
    assert.ok(maxDiff(modelOf(two, 'ema'), modelOf(two)) > 1e-4, 'the average is not the raw weights');
  });
});
