// A refused run leaves nothing: every check (output folder, data, weights, free space) runs
// before the first file is written, and the folders made for the checks are removed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { runCli, sourceWeights, tempDir, trainArgs } from '../reliability/helpers.js';
import { writeImage } from '../data/util.js';

const dir = tempDir('refused');
const weights = sourceWeights(dir);
const config = (o: { weights?: string; data?: string }) =>
  makeConfig({ method: 'finetune', arch: 'resnet26', width: 0.25, data: o.data ?? 'digits', perClass: 2, epochs: 1, batchSize: 8, weights: o.weights ?? weights });

test('a missing or unreadable weights file, or data that does not open: refused, and the output folder is not left behind', async () => {
  const garbage = join(dir, 'garbage.safetensors');
  writeFileSync(garbage, 'not a weights file');
  const folder = join(dir, 'folder');
  for (const [split, c] of [['train', 'cat'], ['train', 'dog'], ['val', 'cat'], ['val', 'emu']]) await writeImage(join(folder, split, c, 'a.png'), 8, 8);
  const cases = [
    { o: { data: `imagefolder:${folder}` }, message: /test class "emu" \(1 image\) is not among the training classes/ },
    { o: { weights: join(dir, 'missing.pth') }, message: /--weights .*missing\.pth: file not found/ },
    { o: { weights: garbage }, message: /garbage\.safetensors/ },
    { o: { data: `imagefolder:${join(dir, 'no-such-folder')}` }, message: /train folder not found/ },
  ];
  for (const [k, { o, message }] of cases.entries()) {
    const output = join(dir, `run${k}`, 'nested', 'run');
    await assert.rejects(train(config(o), output), message);
    assert.equal(existsSync(join(dir, `run${k}`)), false, `case ${k}: the folders created for the check are gone`);
  }
});

test('a refused run in a folder that already existed leaves the folder as it was (empty), through the CLI too', () => {
  const output = join(dir, 'existing');
  mkdirSync(output);
  const r = runCli(trainArgs(join(dir, 'missing.pth'), output, ['--epochs', '1']));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^spottune: --weights .*missing\.pth: file not found\n$/);
  assert.deepEqual(readdirSync(output), [], 'no config.json, no metrics.jsonl');
});
