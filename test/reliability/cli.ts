// The CLI as a real child process, a small seeded source model, and the temporary files of
// atomic writes: shared by the reliability tests (test/reliability) and scripts (scripts/).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { resnet26 } from '../../src/models/index.js';
import { writeWeights } from '../../src/io/tensors.js';

export const ROOT = join(import.meta.dirname, '..', '..');
/** Node's arguments that run the CLI from the sources. */
export const CLI = ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')];

/** Runs `spottune <args>` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8', cwd: ROOT, env });
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

/** Temporary files of atomic writes (`*.tmp-<pid>`) in a folder. */
export function tempFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /\.tmp-\d+$/.test(f));
}
