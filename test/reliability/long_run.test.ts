// The short version of bench/long_run.ts (2,000 steps on Fashion-MNIST, ±10%): SpotTune through
// the real engine in a child process for a few hundred steps, with evaluation and a checkpoint
// every epoch. After the first epoch RSS stays within a loose bound and no tensor handle leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

test('SpotTune training, 2 epochs of 112 steps: RSS flat after the first epoch, live tensors constant', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'long_run.ts'), '--data', 'digits', '--per-class', '0', '--batch-size', '8',
    '--steps', '224', '--every', '16', '--warmup', '112', '--eval-every', '1', '--tolerance', '0.25', '--json'], { encoding: 'utf8', env: { ...process.env, SPOTTUNE_THREADS: '1' } });
  assert.equal(r.status === 0 || r.status === 1, true, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as { steps: number; rssMaxDeviation: number; tensorsAfterWarmup: number[]; samples: unknown[] };
  assert.equal(s.steps, 224);
  assert.equal(s.samples.length, 14);
  assert.equal(s.tensorsAfterWarmup.length, 1, `live tensor handles changed after warm-up: ${s.tensorsAfterWarmup}`);
  assert.ok(s.rssMaxDeviation <= 0.25, `RSS moved ${(100 * s.rssMaxDeviation).toFixed(1)}% after warm-up`);
  assert.equal(r.status, 0);
});
