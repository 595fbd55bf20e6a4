// The loader's worker threads (LoaderOptions.workers, --workers): for a seed, the batches (order,
// pixels, augmentation, labels, skipped files) are the same with 0, 1 or 3 workers; other seeds
// and epochs give other batches; errors come back as the main thread's would; a training run
// ends with the same weights whatever its workers.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { type Batch, DataLoader } from '../../src/data/loader.js';
import { BadImageError, compose, IMAGENET_MEAN, IMAGENET_STD, type Pipeline, randomCrop, randomHorizontalFlip, randomResizedCrop } from '../../src/data/transforms.js';
import { Rng } from '../../src/util/rng.js';
import * as torch from '../../src/torch/index.js';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir } from './util.js';

const dir = tempDir();
const rng = new Rng(11);
const files: string[] = [];
for (let i = 0; i < 13; i++) {
  // Sizes from 40×30 to 88×66, noise: every crop and flip shows in the pixels.
  const [w, h] = [40 + 4 * i, 30 + 3 * i];
  const path = join(dir, `${i}.jpg`);
  await sharp(Buffer.from(Array.from({ length: w * h * 3 }, () => Math.floor(rng.float() * 256))), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(path);
  files.push(path);
}
const broken = join(dir, 'broken.jpg');
writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));

function fileDataset(paths: string[]): Dataset {
  return { length: paths.length, classes: ['a', 'b', 'c'], labels: Int32Array.from(paths, (_, i) => i % 3), get: (i): Sample => ({ kind: 'file', path: paths[i] }) };
}
const jpegs = fileDataset(files);
const imagenet = compose({ steps: [randomResizedCrop(24), randomHorizontalFlip()], mean: IMAGENET_MEAN, std: IMAGENET_STD });

const loaders: DataLoader[] = [];
after(() => Promise.all(loaders.map((l) => l.close())));

async function epochs(ds: Dataset, pipeline: Pipeline, workers: number, seed: number, o: { skipBad?: boolean } = {}): Promise<{ batches: Batch[][]; skipped: number; bad: [string, string][] }> {
  const loader = new DataLoader(ds, pipeline, { batchSize: 4, shuffle: true, seed, workers, ...o });
  loaders.push(loader);
  const batches: Batch[][] = [];
  for (const epoch of [0, 1]) {
    const out: Batch[] = [];
    for await (const b of loader.epoch(epoch)) out.push(b);
    batches.push(out);
  }
  return { batches, skipped: loader.skipped, bad: [...loader.badFiles] };
}

/** Every batch's indices, labels, shape and pixels, bit for bit. */
function assertSame(a: Batch[][], b: Batch[][], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((epoch, e) => {
    assert.equal(epoch.length, b[e].length, `${what}: epoch ${e} has another number of batches`);
    epoch.forEach((x, k) => {
      const y = b[e][k];
      assert.deepEqual([...x.index], [...y.index], `${what}: epoch ${e} batch ${k} order`);
      assert.deepEqual([...x.y], [...y.y], `${what}: epoch ${e} batch ${k} labels`);
      assert.deepEqual(x.shape, y.shape);
      assert.ok(Buffer.from(x.x.buffer, x.x.byteOffset, x.x.byteLength).equals(Buffer.from(y.x.buffer, y.x.byteOffset, y.x.byteLength)), `${what}: epoch ${e} batch ${k} pixels differ`);
    });
  });
}

const differs = (a: Batch, b: Batch) => a.x.some((v, i) => v !== b.x[i]);

describe('DataLoader workers', () => {
  it('gives the same batches of JPEGs (RandomResizedCrop + flip) with 0, 1 and 3 workers; another seed or epoch changes them', async () => {
    const here = await epochs(jpegs, imagenet, 0, 5);
    assert.deepEqual(here.batches[0].map((b) => b.shape), [[4, 3, 24, 24], [4, 3, 24, 24], [4, 3, 24, 24], [1, 3, 24, 24]]);
    for (const workers of [1, 3]) assertSame((await epochs(jpegs, imagenet, workers, 5)).batches, here.batches, `${workers} workers`);
    // The same images in epoch 1 (sorted by index), augmented differently; seed 6 shuffles differently.
    const byIndex = (batches: Batch[]) => batches.flatMap((b) => [...b.index]);
    assert.deepEqual(byIndex(here.batches[1]).sort((a, b) => a - b), byIndex(here.batches[0]).sort((a, b) => a - b));
    assert.notDeepEqual(byIndex(here.batches[1]), byIndex(here.batches[0]));
    const other = await epochs(jpegs, imagenet, 3, 6);
    assert.notDeepEqual(byIndex(other.batches[0]), byIndex(here.batches[0]));
    // Image 0 in epoch 0 and in epoch 1: another crop.
    const first = (batches: Batch[]) => {
      const b = batches.find((x) => x.index.includes(0))!;
      const k = b.index.indexOf(0);
      const n = 3 * 24 * 24;
      return { ...b, x: b.x.subarray(k * n, (k + 1) * n) };
    };
    assert.ok(differs(first(here.batches[0]), first(here.batches[1])), 'epoch 1 repeated epoch 0\'s augmentation');
  });

  it('gives the same batches of in-memory images with and without workers', async () => {
    const ds: Dataset = {
      length: 10, classes: ['a', 'b'], labels: Int32Array.from({ length: 10 }, (_, i) => i % 2),
      get: (i) => ({ kind: 'image', image: { data: Uint8Array.from({ length: 64 }, (_, k) => (i * 37 + k * 11) % 256), width: 8, height: 8, channels: 1 } }),
    };
    const augment = compose({ channels: 1, steps: [randomCrop(8, { padding: 2 }), randomHorizontalFlip()], mean: [0.5], std: [0.5] });
    assertSame((await epochs(ds, augment, 2, 3)).batches, (await epochs(ds, augment, 0, 3)).batches, '2 workers');
  });

  it('skips the same unreadable files with workers, or fails naming the file', async () => {
    const ds = fileDataset([...files.slice(0, 6), broken]);
    const here = await epochs(ds, imagenet, 0, 1, { skipBad: true });
    const there = await epochs(ds, imagenet, 2, 1, { skipBad: true });
    assertSame(there.batches, here.batches, 'skipBad with 2 workers');
    assert.equal(there.skipped, 2); // once per epoch
    assert.deepEqual(there.bad, here.bad);
    assert.equal(there.bad[0][0], broken);
    const strict = new DataLoader(ds, imagenet, { batchSize: 7, workers: 2 });
    loaders.push(strict);
    await assert.rejects(async () => {
      for await (const _ of strict.epoch(0));
    }, (e: Error) => e instanceof BadImageError && e.file === broken && e.message.startsWith(`cannot decode image ${broken}: `));
  });

  it('refuses workers for a pipeline with a step of its own', () => {
    const custom = compose({ steps: [randomResizedCrop(24), (img) => img] });
    assert.equal(custom.recipe, undefined);
    assert.ok(imagenet.recipe);
    assert.throws(() => new DataLoader(jpegs, custom, { batchSize: 4, workers: 2 }), /workers need a pipeline made by compose\(\) from the built-in transforms/);
    assert.throws(() => new DataLoader(jpegs, imagenet, { batchSize: 4, workers: 1.5 }), /workers must be an integer ≥ 0, got 1.5/);
  });

  it('trains to the same weights with --workers 0 and 2', async () => {
    const folder = join(dir, 'folder');
    for (const split of ['train', 'val']) {
      for (const [c, cls] of ['a', 'b'].entries()) {
        mkdirSync(join(folder, split, cls), { recursive: true });
        for (let i = 0; i < (split === 'train' ? 6 : 2); i++) {
          const [w, h] = [36 + 4 * i, 28 + 2 * i];
          const px = Buffer.from(Array.from({ length: w * h * 3 }, (_, k) => Math.min(255, (k % 3 === c ? 120 : 30) + Math.floor(rng.float() * 120))));
          await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(folder, split, cls, `${i}.jpg`));
        }
      }
    }
    const runs = [0, 2].map((workers) => join(dir, `run-workers${workers}`));
    const results = [];
    for (const [k, workers] of [0, 2].entries()) {
      results.push(await train(makeConfig({ method: 'scratch', arch: 'resnet26', width: 0.25, data: `imagefolder:${folder}`, imageSize: 32, epochs: 2, batchSize: 4, lr: 0.05, seed: 3, workers }), runs[k]));
    }
    assert.equal(results[1].testAcc, results[0].testAcc);
    torch.tidy(() => {
      const [a, b] = runs.map((r) => loadCheckpoint(join(r, 'last.pth')).get('model') as Map<string, torch.Tensor>);
      for (const [key, t] of a) assert.equal(t.sub(b.get(key)!).abs().max().item(), 0, `${key} differs`);
    });
  });
});
