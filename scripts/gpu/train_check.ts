// scripts/gpu/check.sh, step 5: a real `spottune train --device <dev> --workers W` (SpotTune,
// ResNet-50, 224×224, batch 64) on a generated folder of ~500×375 JPEGs, against the loader alone
// on the same folder (RandomResizedCrop 224 + flip) with 1, 2, 4, ... worker threads up to the
// cores (target: ≥ 120 images/s per core). Prints table rows: the loader's images/s per worker
// count, the training images/s and its ratio to the loader with W workers (target: training
// ≥ 80% of min(step alone, loader alone); the step alone is the benchmark row above).
// Usage: UV_THREADPOOL_SIZE=<cores> node --import tsx scripts/gpu/train_check.ts DEVICE OUT
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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
const cores = availableParallelism();
const counts = [1, 2, 4, 8, 16, 32].filter((w) => w <= cores);
// Training leaves a core to the main thread (the CUDA launches).
const trainWorkers = Math.max(1, Math.min(16, cores - 1));
const rates = new Map<number, number>();
for (const workers of [...counts, trainWorkers]) {
  if (rates.has(workers)) continue;
  const loader = new DataLoader(new ImageFolder(join(root, 'train')), compose({ mean: IMAGENET_MEAN, std: IMAGENET_STD, steps: [randomResizedCrop(224), randomHorizontalFlip()] }), { batchSize: 64, shuffle: true, workers });
  for await (const _ of loader.epoch(0)); // start-up and file cache
  let n = 0;
  const t = performance.now();
  for await (const b of loader.epoch(1)) n += b.y.length;
  rates.set(workers, (n * 1000) / (performance.now() - t));
  await loader.close();
}
const loaderRate = rates.get(trainWorkers)!;

const weights = join(out, 'source.safetensors');
torch.tidy(() => writeWeights(weights, resnet50({ numClasses: 10 }).stateDict()));
const run = join(out, 'run');
const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--method', 'spottune', '--arch', 'resnet50', '--weights', weights,
  '--data', `imagefolder:${root}`, '--image-size', '224', '--epochs', '2', '--batch-size', '64', '--device', device, '--workers', String(trainWorkers), '--quiet', '--output', run], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`spottune train failed:\n${r.stderr}`);
const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { imagesPerSec: number });
const trainRate = metrics[metrics.length - 1].imagesPerSec; // the second epoch: start-up excluded
for (const w of counts) {
  console.log(`| loader alone, --workers ${w} (images/s) | ${rates.get(w)!.toFixed(0)} (${(rates.get(w)! / w).toFixed(0)} per worker) | RandomResizedCrop 224 + flip from 500×375 JPEGs, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}; target ≥ 120 per core |`);
}
console.log(`| spottune train --device ${device} --workers ${trainWorkers} (images/s, 2nd epoch) | ${trainRate.toFixed(0)} | ResNet-50 SpotTune, 224, batch 64 |`);
console.log(`| training / loader with ${trainWorkers} workers (${loaderRate.toFixed(0)} images/s) | ${(trainRate / loaderRate).toFixed(2)} | target: training ≥ 0.8 × min(step alone, loader alone) |`);
