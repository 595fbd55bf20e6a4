// scripts/gpu/check.sh, step 5: a real `spottune train --device <dev>` (SpotTune, ResNet-50,
// 224×224, batch 64) on a generated folder of ~500×375 JPEGs, against the loader alone on the
// same folder (RandomResizedCrop 224 + flip). Prints table rows: the training and loader images/s
// and their ratio (target: training ≥ 80% of min(step alone, loader alone); the step alone is
// the benchmark row above). Usage: node --import tsx scripts/gpu/train_check.ts DEVICE OUT
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../../src/torch/index.js';
import { resnet50 } from '../../src/models/index.js';
import { writeWeights } from '../../src/io/tensors.js';
import { DataLoader, ImageFolder } from '../../src/data/index.js';
import { compose, randomHorizontalFlip, randomResizedCrop, IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/transforms.js';

const [device, out] = process.argv.slice(2);
const root = join(out, 'jpegs');
for (const split of ['train', 'val']) {
  for (let c = 0; c < 4; c++) {
    mkdirSync(join(root, split, `c${c}`), { recursive: true });
    for (let i = 0; i < (split === 'train' ? 256 : 32); i++) {
      const noise = Buffer.from(Array.from({ length: 500 * 375 * 3 }, (_, k) => (k * 7 + i * 13 + c * 50) % 256));
      await sharp(noise, { raw: { width: 500, height: 375, channels: 3 } }).jpeg({ quality: 85 }).toFile(join(root, split, `c${c}`, `${i}.jpg`));
    }
  }
}
const loader = new DataLoader(new ImageFolder(join(root, 'train')), compose({ mean: IMAGENET_MEAN, std: IMAGENET_STD, steps: [randomResizedCrop(224), randomHorizontalFlip()] }), { batchSize: 64, shuffle: true });
let n = 0;
const t = performance.now();
for await (const b of loader.epoch(0)) n += b.y.length;
const loaderRate = (n * 1000) / (performance.now() - t);

const weights = join(out, 'source.safetensors');
torch.tidy(() => writeWeights(weights, resnet50({ numClasses: 10 }).stateDict()));
const run = join(out, 'run');
const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--method', 'spottune', '--arch', 'resnet50', '--weights', weights,
  '--data', `imagefolder:${root}`, '--image-size', '224', '--epochs', '2', '--batch-size', '64', '--device', device, '--quiet', '--output', run], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`spottune train failed:\n${r.stderr}`);
const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { imagesPerSec: number });
const trainRate = metrics[metrics.length - 1].imagesPerSec; // the second epoch: start-up excluded
console.log(`| spottune train --device ${device} (images/s, 2nd epoch) | ${trainRate.toFixed(0)} | ResNet-50 SpotTune, 224, batch 64 |`);
console.log(`| loader alone (images/s, ${n} images) | ${loaderRate.toFixed(0)} | RandomResizedCrop 224 + flip from 500×375 JPEGs |`);
console.log(`| training / loader | ${(trainRate / loaderRate).toFixed(2)} | target: training ≥ 0.8 × min(step alone, loader alone) |`);
