// Data-layer throughput: decode + augment + batch, in images/s, through the DataLoader.
//   1. 500×375 JPEGs (generated here) → RandomResizedCrop(224) + flip + normalize, batch 32:
//      in the main thread at several decode concurrencies, then with 1 and 2 worker threads
//      (--workers), alone and beside a consumer that blocks the main thread for 100 ms per
//      batch (a training step): there only the workers keep decoding.
//   2. Fashion-MNIST (Debian's files) → pad 4 + RandomCrop(28) + flip + normalize, batch 128.
// Also reports the process's CPU time per image (all threads; steadier than images/s when other
// work shares the cores), the main thread's event-loop utilisation (the share of time the
// loader keeps the main thread busy; the rest is free for compute) and the load average.
// Run: node --import tsx bench/data.ts
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { Dataset } from '../src/data/dataset.js';
import { FASHION_MNIST_ROOT, fashionMnist } from '../src/data/idx.js';
import { DataLoader } from '../src/data/loader.js';
import { Subset } from '../src/data/subset.js';
import {
  compose,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type Pipeline,
  randomCrop,
  randomHorizontalFlip,
  randomResizedCrop,
} from '../src/data/transforms.js';

const JPEGS = 400;

async function makeJpegs(dir: string): Promise<Dataset> {
  const paths: string[] = [];
  for (let k = 0; k < JPEGS; k++) {
    const path = join(dir, `${k}.jpg`);
    // Blurred noise compresses like a photo's texture (about 30 kB at quality 90).
    await sharp({ create: { width: 500, height: 375, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .blur(1.5)
      .jpeg({ quality: 90 })
      .toFile(path);
    paths.push(path);
  }
  return { length: JPEGS, classes: ['x'], labels: new Int32Array(JPEGS), get: (i) => ({ kind: 'file', path: paths[i] }) };
}

/** Blocks the main thread for ms, as a synchronous training step does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function measure(name: string, ds: Dataset, pipeline: Pipeline, batchSize: number, o: { concurrency?: number; workers?: number; stepMs?: number } = {}): Promise<void> {
  const loader = new DataLoader(ds, pipeline, { batchSize, shuffle: true, seed: 0, concurrency: o.concurrency, workers: o.workers });
  for await (const _ of loader.epoch(0)); // warm-up: file cache, JIT, worker start
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let images = 0;
  for await (const batch of loader.epoch(1)) {
    images += batch.shape[0];
    if (o.stepMs) busy(o.stepMs);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  await loader.close();
  const where = o.workers ? `workers ${o.workers}` : `concurrency ${String(loader.concurrency).padStart(2)}`;
  // Beside a consumer, the process's CPU time is mostly the consumer's spinning: not shown.
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `${name.padEnd(46)} ${where.padEnd(14)}${o.stepMs ? ` + ${o.stepMs} ms step/batch` : ''}: ` +
      `${(images / seconds).toFixed(0).padStart(6)} images/s, ` +
      `${o.stepMs ? '' : `CPU ${(cpuMs / images).toFixed(3)} ms/image, `}main thread busy ${(100 * elu).toFixed(0)}%, load average ${loadavg()[0].toFixed(1)}`,
  );
}

const cores = availableParallelism();
console.log(`node ${process.version}, ${cores} cores, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);

const dir = mkdtempSync(join(tmpdir(), 'spottune-bench-'));
try {
  const jpegs = await makeJpegs(dir);
  const imagenet = compose({ steps: [randomResizedCrop(224), randomHorizontalFlip()], mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const name = '500×375 JPEG → RRC 224 + flip + normalize';
  for (const concurrency of [cores, 2 * cores, 4 * cores]) await measure(name, jpegs, imagenet, 32, { concurrency });
  for (const workers of [1, 2]) await measure(name, jpegs, imagenet, 32, { workers });
  for (const workers of [0, 1, 2]) await measure(name, jpegs, imagenet, 32, { workers, stepMs: 100 });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (existsSync(FASHION_MNIST_ROOT)) {
  const t0 = performance.now();
  const train = fashionMnist({ split: 'train' });
  console.log(`Fashion-MNIST train read in ${(performance.now() - t0).toFixed(0)} ms`);
  const subset = new Subset(train, Int32Array.from({ length: 20000 }, (_, i) => i));
  const fmnist = compose({ channels: 1, steps: [randomCrop(28, { padding: 4 }), randomHorizontalFlip()], mean: [0.286], std: [0.353] });
  await measure('Fashion-MNIST → pad 4 + crop 28 + flip + norm.', subset, fmnist, 128);
} else {
  console.log(`Fashion-MNIST not found in ${FASHION_MNIST_ROOT}: skipped`);
}
