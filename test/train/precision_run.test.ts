// Training with --precision and --device through the CLI: refusals before any file is written,
// a bf16 run killed and resumed ends like the uninterrupted one, its checkpoints float32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { sourceWeights } from '../source.js';

const { dir, weights } = sourceWeights('spottune-precision-');
const cli = ['--import', 'tsx', 'src/cli/main.ts'];
const args = (out: string, ...more: string[]) => ['train', '--method', 'spottune', '--data', 'digits', '--per-class', '10', '--width', '0.25', '--weights', weights,
  '--epochs', '3', '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '2', '--quiet', '--output', out, ...more];

test('--device cuda without a CUDA libtorch and --precision fp16 on the CPU are refused before any file is written', { skip: torch.cudaBuilt() ? 'this addon has CUDA' : false }, () => {
  for (const [flags, expect] of [[['--device', 'cuda'], /--device cuda: spottune's addon is built against a libtorch without CUDA/], [['--precision', 'fp16'], /--precision fp16 needs a GPU/]] as const) {
    const out = join(dir, `refused-${flags[1]}`);
    const r = spawnSync(process.execPath, [...cli, ...args(out, ...flags)], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, expect);
    assert.equal(existsSync(out), false, 'the refused run left its output folder');
  }
});

test('a bf16 run killed after its first checkpoint and resumed ends with the uninterrupted run\'s weights, all float32', async () => {
  const a = join(dir, 'a');
  const r = spawnSync(process.execPath, [...cli, ...args(a, '--precision', 'bf16')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')).precision, 'bf16');
  const b = join(dir, 'b');
  const child = spawn(process.execPath, [...cli, ...args(b, '--precision', 'bf16')], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  while (!existsSync(join(b, 'last.pth')) && child.exitCode === null) await new Promise((res) => setTimeout(res, 10));
  child.kill('SIGKILL');
  await exited;
  const resumed = spawnSync(process.execPath, [...cli, ...args(b, '--precision', 'bf16'), '--resume'], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);
  torch.tidy(() => {
    const wa = loadCheckpoint(join(a, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    const wb = loadCheckpoint(join(b, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    for (const [k, v] of wa) {
      if (v.dtype !== 'int64') assert.equal(v.dtype, 'float32', k);
      assert.equal(v.sub(wb.get(k)!).abs().max().item(), 0, `${k} differs after the resume`);
    }
  });
  const metrics = readFileSync(join(a, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(metrics.length, 3);
  assert.ok(metrics.every((m) => Number.isFinite(m.trainLoss) && m.skippedBatches === 0), 'a bf16 loss became NaN/Inf');
});
