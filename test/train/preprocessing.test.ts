// Preprocessing travels with the model: pretrain records it in weights.safetensors' metadata and
// the run folder; train --weights takes the source's channels, size and normalisation (so a grey
// image folder fine-tunes a grey source model), flags override it; predict uses the run's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { readSafetensorsMetadata } from '../../src/io/safetensors.js';
import { pretrainCommand, predictCommand, trainCommand } from '../../src/cli/commands.js';
import { loadRun } from '../../src/train/saved_run.js';
import { METADATA_KEY } from '../../src/train/preprocessing.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../reliability/helpers.js';

const dir = tempDir('preprocessing');
const tiny = { arch: 'resnet26', width: 0.25, epochs: 1, batchSize: 16, seed: 1 };
const quiet = { quiet: true };

test('pretrain records the input in its weights and run folder; a grey image folder fine-tunes from it with its input; predict uses the run\'s', async () => {
  const source = join(dir, 'source');
  const weights = await pretrainCommand({ ...tiny, data: 'digits', perClass: 3 }, source, quiet);
  const record = {
    channels: 1, imageSize: 28, mean: [0.5], std: [0.5], resize: 28, train: 'Resize(28), RandomCrop(28, padding=2)',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
  assert.deepEqual(JSON.parse(readSafetensorsMetadata(weights)[METADATA_KEY]), record);
  assert.deepEqual(JSON.parse(readFileSync(join(source, 'preprocessing.json'), 'utf8')), record);

  // Grey images in an image folder: natural-image recipe, but 1 channel, 28×28, mean/std 0.5 from the source.
  const folder = join(dir, 'folder');
  for (const split of ['train', 'val']) {
    for (const [k, cls] of ['dark', 'light'].entries()) {
      mkdirSync(join(folder, split, cls), { recursive: true });
      for (let i = 0; i < 4; i++) await sharp(Buffer.alloc(40 * 30, 60 + 120 * k + i), { raw: { width: 40, height: 30, channels: 1 } }).png().toFile(join(folder, split, cls, `${i}.png`));
    }
  }
  const run = join(dir, 'run');
  const errors: string[] = [];
  const log = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    await trainCommand({ ...tiny, method: 'finetune', data: `imagefolder:${folder}`, weights }, run, quiet);
  } finally {
    console.error = log;
  }
  assert.ok(errors.includes(`spottune: input as ${weights} expects: 1 channel, 28×28, mean [0.5], std [0.5] (override with --channels, --image-size, --mean, --std)`), errors.join('\n'));
  const fine = { channels: 1, imageSize: 28, mean: [0.5], std: [0.5], resize: 32, train: 'RandomResizedCrop(28), RandomHorizontalFlip()', classes: ['dark', 'light'] };
  assert.deepEqual(JSON.parse(readFileSync(join(run, 'preprocessing.json'), 'utf8')), fine);

  // predict and eval rebuild the run's input: 1×28×28, (x/255 − 0.5)/0.5.
  const loaded = loadRun(run, { checkpoint: 'last' });
  assert.deepEqual(loaded.task.preprocessing, fine);
  const chw = await loaded.task.fileTransform({ kind: 'file', path: join(folder, 'val', 'light', '0.png') }, new Rng(0));
  assert.deepEqual([chw.channels, chw.height, chw.width], [1, 28, 28]);
  assert.equal(chw.data[0], Math.fround((180 / 255 - 0.5) / 0.5), 'light 0.png is all 180');
  loaded.model.dispose();
  const lines: string[] = [];
  const print = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    await predictCommand([join(folder, 'val', 'dark', '0.png')], run, { checkpoint: 'last', json: true });
  } finally {
    console.log = print;
  }
  const [row] = JSON.parse(lines[0]) as { image: string; class: string }[];
  assert.equal(row.image, join(folder, 'val', 'dark', '0.png'));
  assert.ok(['dark', 'light'].includes(row.class));

  // Flags override the source's record.
  const other = join(dir, 'override');
  const said: string[] = [];
  console.error = (line: string) => said.push(line);
  try {
    await trainCommand({ ...tiny, method: 'finetune', data: `imagefolder:${folder}`, weights, mean: [0.25], std: [0.75], imageSize: 24 }, other, quiet);
  } finally {
    console.error = log;
  }
  assert.ok(said.some((l) => l.includes(`input as ${weights} expects: 1 channel, 28×28, mean [0.5], std [0.5]`)), 'the source\'s own record is what is reported');
  assert.deepEqual(JSON.parse(readFileSync(join(other, 'preprocessing.json'), 'utf8')), { ...fine, imageSize: 24, resize: 27, mean: [0.25], std: [0.75], train: 'RandomResizedCrop(24), RandomHorizontalFlip()' });
});
