// Shared by the reliability tests: a folder per test file, a small training run's flags, and
// reading a run's checkpoints back (the CLI and the source model: scripts/reliability/cli.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

export { CLI, ROOT, runCli, sourceWeights, tempFiles } from './cli.js';

/** A fresh folder, removed when the test file ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `spottune-${prefix}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `spottune train` flags for a small, fast run on UCI digits. */
export function trainArgs(weights: string, output: string, extra: string[] = []): string[] {
  return ['train', '--method', 'finetune', '--data', 'digits', '--per-class', '5', '--width', '0.25', '--weights', weights,
    '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '1', '--quiet', '--output', output, ...extra];
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
