// Launch by torchrun and by Kubernetes' PyTorchJob: the environment variables they set are read,
// and a real `torchrun --no_python --nproc_per_node 2` (Debian's python3-torch 1.13 spells its flags with underscores; newer ones take both) ends with the
// same weights, bit for bit, as `--nproc 2`; so do two processes given only PyTorchJob's variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { launchedRank } from '../../src/cli/launcher_env.js';
import { freePort, run, type Exit } from './util.js';
import { sourceWeights } from '../source.js';

const TORCHRUN = '/usr/bin/torchrun';

test('launchedRank: torchrun\'s and PyTorchJob\'s variables, and clear errors', () => {
  assert.equal(launchedRank({}), undefined);
  const torchrun = { RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29500', TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' };
  assert.deepEqual(launchedRank(torchrun), { rank: 1, worldSize: 4, masterAddr: 'node0', masterPort: 29500, localRank: 1, localWorldSize: 2, storeServer: false, storePrefix: '/worker/attempt_2' });
  // PyTorchJob: one process per pod, rank 0 serves the store.
  const job = { RANK: '0', WORLD_SIZE: '3', MASTER_ADDR: 'job-master-0', MASTER_PORT: '23456' };
  assert.deepEqual(launchedRank(job), { rank: 0, worldSize: 3, masterAddr: 'job-master-0', masterPort: 23456, localRank: 0, localWorldSize: 1, storeServer: true, storePrefix: undefined });
  assert.throws(() => launchedRank({ RANK: '0' }), /RANK and WORLD_SIZE go together .* got only RANK/);
  assert.throws(() => launchedRank({ ...job, RANK: '3' }), /environment variable RANK: expected an integer in \[0, 2\], got "3"/);
  assert.throws(() => launchedRank({ ...job, MASTER_PORT: 'x' }), /environment variable MASTER_PORT: expected an integer in \[1, 65535\], got "x"/);
  assert.throws(() => launchedRank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }), /MASTER_ADDR must be set/);
});

const { dir, weights } = sourceWeights('spottune-launch-');
// finetune: batch norm trains, so the two ranks' halves of each batch must be the same as --nproc's.
const trainArgs = (out: string) => ['src/cli/main.ts', 'train', '--method', 'finetune', '--data', 'digits', '--per-class', '10', '--width', '0.25',
  '--weights', weights, '--epochs', '2', '--batch-size', '20', '--lr', '0.05', '--seed', '3', '--quiet', '--output', out];

/** A child process with extra environment variables, 1 libtorch thread (as util.run). */
function spawnWith(cmd: string, args: string[], env: Record<string, string>): Promise<Exit> {
  const child = spawn(cmd, args, { env: { ...process.env, SPOTTUNE_THREADS: '1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr });
  }));
}

function sameWeights(a: string, b: string): void {
  torch.tidy(() => {
    const wa = loadCheckpoint(join(a, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    const wb = loadCheckpoint(join(b, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    assert.deepEqual([...wb.keys()], [...wa.keys()]);
    for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.toArray(), t.toArray(), `${k} differs between ${a} and ${b}`);
  });
}

test('torchrun --no_python --nproc_per_node 2, and PyTorchJob\'s variables: the weights of --nproc 2, bit for bit', { skip: existsSync(TORCHRUN) ? false : `${TORCHRUN} not found (apt-get install python3-torch)` }, async () => {
  const nproc = join(dir, 'nproc');
  const r = await run([...trainArgs(nproc), '--nproc', '2']).done;
  assert.equal(r.code, 0, r.stderr);

  const viaTorchrun = join(dir, 'torchrun');
  // --redirects/--tee: Debian 12's torch 1.13 on Python 3.11 cannot parse their default "0" (a
  // zero IntFlag is no longer iterated); "2" sends the workers' stderr through a log file to ours.
  const t = await spawnWith(TORCHRUN, ['--no_python', '--nproc_per_node', '2', '--master_port', String(await freePort()), '--redirects', '2', '--tee', '2', '--log_dir', join(dir, 'torchrun-logs'), process.execPath, '--import', 'tsx', ...trainArgs(viaTorchrun)], {});
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /\(2 processes\)/);
  assert.deepEqual(readdirSync(viaTorchrun).sort(), readdirSync(nproc).sort());
  sameWeights(nproc, viaTorchrun);

  // PyTorchJob: each pod gets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and runs the command once.
  const viaJob = join(dir, 'job');
  const port = String(await freePort());
  const ranks = await Promise.all([0, 1].map((rank) => spawnWith(process.execPath, ['--import', 'tsx', ...trainArgs(viaJob)], { RANK: String(rank), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port })));
  ranks.forEach((e, rank) => assert.equal(e.code, 0, `rank ${rank}: ${e.stderr}`));
  sameWeights(nproc, viaJob);
});

test('--nproc under a launcher is refused', async () => {
  const e = await spawnWith(process.execPath, ['--import', 'tsx', ...trainArgs(join(dir, 'nested')), '--nproc', '2'], { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1' });
  assert.equal(e.code, 1);
  assert.match(e.stderr, /--nproc inside a launcher \(RANK and WORLD_SIZE are set/);
});
