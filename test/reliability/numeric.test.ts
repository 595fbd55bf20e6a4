// Numeric faults in real training runs: the learning rate jumps ×10^20 after the first epoch
// (a bad --gamma), so the weights diverge at once (×10^8 overflowed float32 in epoch 2 or 3,
// depending on the convolution algorithm). Without --skip-nonfinite the run stops at the step
// where it happens, naming it, exits non-zero and keeps the last good checkpoint. With it, bad
// batches are skipped (and leave no NaN in batch-norm statistics) until a whole epoch is bad,
// which stops the run the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { epochOf, nonFinite, runCli, sourceWeights, tempDir, tempFiles, trainArgs } from './helpers.js';

const dir = tempDir('numeric');
const weights = sourceWeights(dir);
const diverging = ['--epochs', '3', '--milestones', '1', '--gamma', '1e20', '--eval-every', '10'];
const epochsIn = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; skippedBatches: number });

test('NaN/Inf stops the run naming the epoch and step, exits non-zero, and keeps the last good checkpoint', () => {
  const run = join(dir, 'stop');
  const r = runCli(trainArgs(weights, run, diverging));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /the (loss became (NaN|Infinity|-Infinity)|gradients became NaN\/Inf) at epoch 2\/3, step \d+\/\d+: stopping; the last good checkpoint is .*last\.pth\. Lower --lr, or pass --skip-nonfinite/);
  assert.equal(epochOf(join(run, 'last.pth')), 0, 'last.pth is the checkpoint of the last good epoch');
  assert.deepEqual(nonFinite(join(run, 'last.pth')), []);
  assert.deepEqual(epochsIn(run).map((m) => m.epoch), [0]);
  assert.deepEqual(tempFiles(run), []);
});

test('--skip-nonfinite skips the bad batches, keeps batch-norm statistics finite, and stops once every batch is bad', () => {
  const run = join(dir, 'skip');
  const r = runCli(trainArgs(weights, run, [...diverging, '--skip-nonfinite']));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /every batch of epoch 3\/3 had a NaN\/Inf loss or gradients \(\d+ skipped\): the weights have diverged; stopping; the last good checkpoint is .*last\.pth/);
  const metrics = epochsIn(run);
  assert.deepEqual(metrics.map((m) => m.epoch), [0, 1]);
  assert.equal(metrics[0].skippedBatches, 0);
  assert.ok(metrics[1].skippedBatches > 0, 'epoch 2 skipped batches');
  // The skipped batches ran forward passes in training mode: their statistics must not remain.
  assert.equal(epochOf(join(run, 'last.pth')), 1);
  assert.deepEqual(nonFinite(join(run, 'last.pth')), []);
});
