// Shared by the reliability tests: a small source model, the CLI as a real child process,
// and reading a run's checkpoints back.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { resnet26 } from '../../src/models/index.js';
import { writeWeights } from '../../src/io/tensors.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

export const ROOT = join(import.meta.dirname, '..', '..');
const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];

/** A fresh folder, removed when the test file ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `spottune-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A seeded ResNet-26 (width 0.25, one input channel, 10 classes) saved as source weights. */
export function sourceWeights(dir: string): string {
  const path = join(dir, 'source.safetensors');
  torch.tidy(() => {
    torch.manualSeed(5);
    writeWeights(path, resnet26({ numClasses: 10, inChannels: 1, width: 0.25 }).stateDict());
  });
  return path;
}

/** `spottune train` flags for a small, fast run on UCI digits. */
export function trainArgs(weights: string, output: string, extra: string[] = []): string[] {
  return ['train', '--method', 'finetune', '--data', 'digits', '--per-class', '5', '--width', '0.25', '--weights', weights,
    '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '1', '--quiet', '--output', output, ...extra];
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', cwd: ROOT, env });
}

/** The epoch a checkpoint was written after. */
export function epochOf(checkpoint: string): number {
  return torch.tidy(() => Number(loadCheckpoint(checkpoint).get('epoch')));
}

/** Keys of the checkpoint's model tensors that hold NaN or Inf. */
export function nonFinite(checkpoint: string): string[] {
  return torch.tidy(() => {
    const model = loadCheckpoint(checkpoint).get('model') as Map<string, torch.Tensor>;
    return [...model].filter(([, t]) => (t.dtype === 'float32' || t.dtype === 'float64') && torch.all(torch.isfinite(t)).item() !== 1).map(([k]) => k);
  });
}

/** Temporary files of atomic writes (`*.tmp-<pid>`) in a folder. */
export function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.tmp-\d+$/.test(f));
}
