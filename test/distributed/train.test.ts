// Data-parallel training with real processes on loopback (127.0.0.1).
// - With batch norm out of the picture (feature-extractor: the backbone, its batch norm
//   included, is frozen in evaluation mode), `--nproc 2` takes the same steps as one process
//   with the same global batch: weights within 1e-5 (float rounding only; observed ~1e-8).
// - With batch norm training (finetune), the ranks hold bit-identical weights and running
//   statistics after training, and each batch is split into disjoint halves of the one-process batch.
// - A worker killed with SIGKILL makes the others exit with a clear error, within seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { readWeights } from '../../src/io/tensors.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { openTask } from '../../src/train/task.js';
import { DataLoader } from '../../src/data/index.js';
import { freePort, run, sleep } from './util.js';
import { sourceWeights } from '../source.js';

const { dir, weights } = sourceWeights('spottune-dist-');

const trainArgs = (method: string, out: string, epochs: number) => ['src/cli/main.ts', 'train', '--method', method, '--data', 'digits', '--per-class', '20', '--width', '0.25',
  '--weights', weights, '--epochs', String(epochs), '--batch-size', '32', '--lr', '0.05', '--gamma', '1', '--seed', '2', '--quiet', '--output', out];

function maxAbsDiff(a: Map<string, torch.Tensor>, b: Map<string, torch.Tensor>): number {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let worst = 0;
  for (const [k, t] of a) if (torch.isFloating(t.dtype)) worst = Math.max(worst, t.sub(b.get(k)!).abs().max().item());
  return worst;
}

test('--nproc 2 takes the steps of one process with the same global batch (frozen batch norm)', async () => {
  const one = join(dir, 'one');
  const two = join(dir, 'two');
  const r1 = await run([...trainArgs('feature-extractor', one, 2)]).done;
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await run([...trainArgs('feature-extractor', two, 2), '--nproc', '2']).done;
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /\(2 processes\)/);
  assert.equal(r2.stdout.trim().split('\n').length, r1.stdout.trim().split('\n').length, 'only rank 0 reports');
  assert.deepEqual(readdirSync(two).sort(), readdirSync(one).sort(), 'rank 0 writes the same files, rank 1 none');

  torch.tidy(() => {
    const w1 = loadCheckpoint(join(one, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    const w2 = loadCheckpoint(join(two, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    const diff = maxAbsDiff(w1, w2);
    assert.ok(diff <= 1e-5, `weights differ by ${diff}`);
    // The comparison means something: 12 steps moved the classifier well beyond the tolerance.
    const source = readWeights(weights);
    const moved = w1.get('fc.bias')!.abs().max().item();
    assert.ok(moved > 1e-3 && source.has('fc.bias'), `classifier bias moved by ${moved}`);
  });
  const metrics = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const [m1, m2] = [metrics(one), metrics(two)];
  assert.equal(m2.length, 2);
  for (let e = 0; e < 2; e++) {
    // Summed over the ranks: the loss of every training image, and the whole test set.
    assert.ok(Math.abs(m2[e].trainLoss - m1[e].trainLoss) < 1e-5, `epoch ${e}: train loss ${m2[e].trainLoss} vs ${m1[e].trainLoss}`);
    assert.equal(m2[e].testAcc, m1[e].testAcc);
    assert.equal(m2[e].testTop5, m1[e].testTop5);
  }
});

test('training batch norm: the ranks never drift apart, and each takes a disjoint half of every batch', async () => {
  const port = await freePort();
  const out = join(dir, 'finetune');
  const dump = join(dir, 'dump');
  const exits = await Promise.all([0, 1].map((r) => run(['test/distributed/train_worker.ts', String(r), '2', String(port), out, weights, dump]).done));
  exits.forEach((e, r) => assert.equal(e.code, 0, `rank ${r}: ${e.stderr}`));
  torch.tidy(() => {
    const w0 = readWeights(`${dump}-rank0.safetensors`);
    const w1 = readWeights(`${dump}-rank1.safetensors`);
    assert.equal(maxAbsDiff(w0, w1), 0, 'weights and running statistics are identical on both ranks');
    const source = readWeights(weights);
    const moved = w0.get('layer3.0.conv2.weight')!.sub(source.get('layer3.0.conv2.weight')!).abs().max().item();
    assert.ok(moved > 1e-3, `training moved the backbone (by ${moved})`);
  });
  const task = openTask({ data: 'digits', perClass: 10, seed: 4 });
  const single: number[][] = [];
  for await (const b of new DataLoader(task.train, task.trainTransform, { batchSize: 16, shuffle: true, seed: 4, dropLast: true }).epoch(0)) single.push([...b.index]);
  const [b0, b1] = [0, 1].map((r) => JSON.parse(readFileSync(`${dump}-rank${r}.json`, 'utf8')) as number[][]);
  assert.equal(b0.length, single.length);
  for (let k = 0; k < single.length; k++) {
    assert.equal(b0[k].length, 8);
    assert.deepEqual([...b0[k], ...b1[k]], single[k], `batch ${k}: rank 0 takes the first half, rank 1 the second`);
  }
  assert.ok(existsSync(join(out, 'last.pth')), 'rank 0 wrote the checkpoint');
});

/** Waits until rank 0 has written its first checkpoint (training is under way), or `done` settles. */
async function firstCheckpoint(out: string, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.then(() => (finished = true));
  const deadline = performance.now() + 90_000;
  while (!existsSync(join(out, 'last.pth')) && !finished && performance.now() < deadline) await sleep(50);
  assert.ok(existsSync(join(out, 'last.pth')), 'the run wrote its first checkpoint');
}

/** The pid of the worker with the given rank among a launcher's children. */
function workerPid(launcher: number, rank: number): number | undefined {
  let ps = '';
  try {
    ps = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(launcher)], { encoding: 'utf8' });
  } catch {
    return undefined; // no children yet
  }
  const line = ps.split('\n').find((l) => l.includes(`--rank ${rank} `));
  return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
}

test('a worker killed with SIGKILL: the other exits with a clear error, the launcher reports it', async () => {
  const out = join(dir, 'killed');
  const launcher = run([...trainArgs('finetune', out, 200), '--nproc', '2']);
  await firstCheckpoint(out, launcher.done);
  const pid = workerPid(launcher.pid, 1);
  assert.ok(pid, 'found worker rank 1');
  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  const e = await launcher.done;
  const seconds = (performance.now() - t0) / 1000;
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /distributed allReduce \(rank 0 of 2\) failed: .*(Connection closed by peer|Connection reset by peer)/, 'rank 0 names the failed collective itself');
  assert.match(e.stderr, /worker rank 1 of 2 was killed by SIGKILL; the run failed/);
  // Rank 0 left on its own, before the launcher's 10 s grace period would have ended it.
  assert.ok(seconds < 10, `everything exited ${seconds.toFixed(1)} s after the kill`);
  assert.equal(workerPid(launcher.pid, 0), undefined, 'no worker left behind');
});

test('rank 0 (the rendezvous host) killed: rank 1 exits with a clear error', async () => {
  const port = await freePort();
  const out = join(dir, 'killed0');
  const ranks = [0, 1].map((r) => run([...trainArgs('finetune', out, 200), '--rank', String(r), '--world-size', '2', '--master-port', String(port)]));
  await firstCheckpoint(out, Promise.race(ranks.map((r) => r.done)));
  const t0 = performance.now();
  process.kill(ranks[0].pid, 'SIGKILL');
  const e = await ranks[1].done;
  assert.ok((performance.now() - t0) / 1000 < 10);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /spottune: distributed allReduce \(rank 1 of 2\) failed: .*a peer process died/);
  await ranks[0].done;
});
