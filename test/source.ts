// A temporary folder (removed when the test process exits) holding the source weights the
// command-line tests fine-tune from: a quarter-width ResNet-26 for 1-channel images, seed 5.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { resnet26 } from '../src/models/index.js';
import { writeWeights } from '../src/io/tensors.js';

export function sourceWeights(prefix: string): { dir: string; weights: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const weights = join(dir, 'source.safetensors');
  torch.tidy(() => {
    torch.manualSeed(5);
    writeWeights(weights, resnet26({ numClasses: 10, inChannels: 1, width: 0.25 }).stateDict());
  });
  return { dir, weights };
}
