// The short version of bench/long_run.ts (2,000 steps on Fashion-MNIST, ±10%): SpotTune through
// the real engine in a child process for a few hundred steps, with evaluation and a checkpoint
// every epoch. After the first epoch RSS stays within a loose bound and no tensor handle leaks.
// And the leak that bench found: disposed handles are freed by finalizers that Node runs only
// when the event loop turns, which a loop over in-memory data never did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import * as torch from '../../src/torch/index.js';
import { DataLoader } from '../../src/data/loader.js';
import type { Dataset } from '../../src/data/dataset.js';

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

test('700,000 tensor handles made and disposed in a DataLoader loop over in-memory data: their finalizers run as it goes', async () => {
  const dataset: Dataset = {
    length: 4000, classes: ['a'], labels: new Int32Array(4000),
    get: () => ({ kind: 'image', image: { data: new Uint8Array(4), width: 2, height: 2, channels: 1 } }),
  };
  const loader = new DataLoader(dataset, async () => ({ data: new Float32Array(4), channels: 1, height: 2, width: 2 }), { batchSize: 1 });
  const x = torch.ones([4]);
  let batches = 0;
  let base = 0;
  for await (const _ of loader.epoch(0)) {
    torch.tidy(() => {
      for (let k = 0; k < 200; k++) x.add(1);
    });
    if (++batches === 500) base = process.memoryUsage.rss();
  }
  const growth = (process.memoryUsage.rss() - base) / 2 ** 20;
  // Finalizers never run: about 150 MB (some 220 bytes a handle). Run once per batch: about 10 MB.
  assert.ok(growth < 50, `RSS grew ${growth.toFixed(1)} MB over 3,500 batches`);
  x.dispose();
});
