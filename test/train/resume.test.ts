// A run killed (SIGKILL, a real child process) and resumed ends with the same weights as an
// uninterrupted run with the same seed, and its metrics have each epoch exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { resnet26 } from '../../src/models/index.js';
import { readWeights, writeWeights } from '../../src/io/tensors.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-resume-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const weights = join(dir, 'source.safetensors');
torch.tidy(() => {
  torch.manualSeed(5);
  const source = resnet26({ numClasses: 10, inChannels: 1, width: 0.25 });
  writeWeights(weights, source.stateDict());
});

const cli = ['--import', 'tsx', 'src/cli/main.ts'];
const args = (out: string) => ['train', '--method', 'spottune', '--data', 'digits', '--per-class', '10', '--width', '0.25', '--weights', weights,
  '--epochs', '3', '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '2', '--quiet', '--output', out];

function modelOf(run: string): Map<string, torch.Tensor> {
  return loadCheckpoint(join(run, 'last.pth')).get('model') as Map<string, torch.Tensor>;
}

test('kill -9 after the first checkpoint, resume: same final weights as an uninterrupted run', async () => {
  const a = join(dir, 'a');
  const r = spawnSync(process.execPath, [...cli, ...args(a)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);

  const b = join(dir, 'b');
  const child = spawn(process.execPath, [...cli, ...args(b)], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while (!existsSync(join(b, 'last.pth')) && child.exitCode === null) await new Promise((res) => setTimeout(res, 10));
  child.kill('SIGKILL');
  await exited;
  const partial = readFileSync(join(b, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
  assert.ok(partial < 3, `the kill came before the run finished (${partial} epochs done)`);
  const refused = spawnSync(process.execPath, [...cli, ...args(b)], { encoding: 'utf8' });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /already holds a run .*--resume/, 'without --resume an existing run is refused');
  const resumed = spawnSync(process.execPath, [...cli, ...args(b), '--resume'], { encoding: 'utf8' });
  assert.equal(resumed.status, 0, resumed.stderr);

  torch.tidy(() => {
    const wa = modelOf(a);
    const wb = modelOf(b);
    assert.deepEqual([...wa.keys()], [...wb.keys()]);
    for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data(), t.data(), `${k} differs after resume`);
  });
  const epochs = readFileSync(join(b, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch);
  assert.deepEqual(epochs, [0, 1, 2]);
  const ra = JSON.parse(readFileSync(join(a, 'result.json'), 'utf8'));
  const rb = JSON.parse(readFileSync(join(b, 'result.json'), 'utf8'));
  assert.equal(rb.testAcc, ra.testAcc);
  assert.ok(readWeights(weights).size > 0);
});
