import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Dataset, Sample } from '../../src/data/dataset.js';
import { type Batch, DataLoader } from '../../src/data/loader.js';
import { compose, type Pipeline, randomCrop, randomHorizontalFlip } from '../../src/data/transforms.js';
import { pixels, tempDir, writeImage } from './util.js';

/** n in-memory 6×6 grey images; image i is filled with the value i, its label is i mod 3. */
function memoryDataset(n: number): Dataset {
  return {
    length: n,
    classes: ['a', 'b', 'c'],
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    get: (i: number): Sample => ({ kind: 'image', image: { data: new Uint8Array(36).fill(i), width: 6, height: 6, channels: 1 } }),
  };
}

async function collect(loader: DataLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

const plain = compose({ channels: 1 });
const augment = compose({ channels: 1, steps: [randomCrop(6, { padding: 2 }), randomHorizontalFlip()], mean: [0.5], std: [0.5] });

describe('DataLoader', () => {
  it('batches in order, with a smaller last batch unless dropLast', async () => {
    const ds = memoryDataset(10);
    const loader = new DataLoader(ds, plain, { batchSize: 4 });
    assert.equal(loader.length, 3);
    const batches = await collect(loader, 0);
    assert.deepEqual(batches.map((b) => [...b.index]), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.deepEqual(batches.map((b) => b.shape), [[4, 1, 6, 6], [4, 1, 6, 6], [2, 1, 6, 6]]);
    assert.deepEqual([...batches[2].y], [2, 0]);
    // Image i is filled with i, so x / (1/255) gives back the index.
    assert.equal(Math.round(batches[1].x[36 * 2] * 255), 6);
    assert.equal(batches[1].x.length, 4 * 36);
    const dropped = new DataLoader(ds, plain, { batchSize: 4, dropLast: true });
    assert.equal(dropped.length, 2);
    assert.deepEqual((await collect(dropped, 0)).map((b) => b.index.length), [4, 4]);
  });

  it('shuffles per epoch, deterministically from the seed', async () => {
    const ds = memoryDataset(20);
    const make = (seed: number): DataLoader => new DataLoader(ds, plain, { batchSize: 6, shuffle: true, seed });
    const order = async (loader: DataLoader, epoch: number): Promise<number[]> => (await collect(loader, epoch)).flatMap((b) => [...b.index]);
    const e0 = await order(make(1), 0);
    assert.deepEqual([...e0].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual(e0, Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(await order(make(1), 0), e0);
    assert.notDeepEqual(await order(make(1), 1), e0);
    assert.notDeepEqual(await order(make(2), 0), e0);
    assert.deepEqual([...make(1).order(0)], e0);
  });

  it('augments each sample from (seed, epoch, index), whatever the batching, prefetch and concurrency', async () => {
    const ds = memoryDataset(12);
    const perIndex = async (options: ConstructorParameters<typeof DataLoader>[2], epoch: number): Promise<Map<number, number[]>> => {
      const out = new Map<number, number[]>();
      for (const b of await collect(new DataLoader(ds, augment, options), epoch)) {
        const size = b.shape[1] * b.shape[2] * b.shape[3];
        b.index.forEach((i, k) => out.set(i, [...b.x.subarray(k * size, (k + 1) * size)]));
      }
      return out;
    };
    const a = await perIndex({ batchSize: 4, seed: 3 }, 0);
    const b = await perIndex({ batchSize: 5, seed: 3, shuffle: true, prefetch: 0, concurrency: 1 }, 0);
    const c = await perIndex({ batchSize: 3, seed: 3, prefetch: 4, concurrency: 7 }, 0);
    assert.deepEqual(new Map([...b].sort(([i], [j]) => i - j)), a);
    assert.deepEqual(new Map([...c].sort(([i], [j]) => i - j)), a);
    assert.notDeepEqual(await perIndex({ batchSize: 4, seed: 3 }, 1), a);
  });

  it('keeps at most prefetch batches in preparation while one is consumed', async () => {
    const ds = memoryDataset(40);
    let started = 0;
    const counting: Pipeline = (sample, rng) => {
      started++;
      return plain(sample, rng);
    };
    const loader = new DataLoader(ds, counting, { batchSize: 4, prefetch: 2 });
    let consumed = 0;
    let lead = 0;
    for await (const batch of loader.epoch(0)) {
      consumed++;
      await new Promise((resolve) => setTimeout(resolve, 5)); // a slow training step
      assert.ok(started <= (consumed + 2) * 4, `started ${started} samples after ${consumed} batches`);
      lead = Math.max(lead, started - consumed * 4);
      assert.equal(batch.index.length, 4);
    }
    assert.equal(consumed, 10);
    assert.equal(lead, 8, 'two batches were prepared ahead');
  });

  it('fails on a bad image naming the file, or skips and counts with skipBad', async () => {
    const dir = tempDir();
    const files: string[] = [];
    for (let k = 0; k < 6; k++) {
      files.push(join(dir, `${k}.jpg`));
      await writeImage(files[k], 8, 8, k);
    }
    writeFileSync(files[2], 'garbage');
    writeFileSync(files[4], readFileSync(files[4]).subarray(0, 100)); // truncated JPEG
    const ds: Dataset = {
      length: 6,
      classes: ['x', 'y'],
      labels: Int32Array.from([0, 1, 0, 1, 0, 1]),
      get: (i) => ({ kind: 'file', path: files[i] }),
    };
    const rgb = compose({ channels: 3 });
    await assert.rejects(collect(new DataLoader(ds, rgb, { batchSize: 2 }), 0), (e: Error) => e.message.includes(files[2]));
    const skipping = new DataLoader(ds, rgb, { batchSize: 2, skipBad: true });
    const batches = await collect(skipping, 0);
    assert.deepEqual(batches.map((b) => [...b.index]), [[0, 1], [3], [5]]);
    assert.deepEqual(batches[1].shape, [1, 3, 8, 8]);
    assert.deepEqual([...batches[1].y], [1]);
    assert.equal(skipping.skipped, 2);
    assert.deepEqual([...skipping.badFiles.keys()].sort(), [files[2], files[4]].sort());
  });

  it('rejects samples of different sizes, and survives a consumer that stops early', async () => {
    const ds: Dataset = {
      length: 8,
      classes: ['a'],
      labels: new Int32Array(8),
      get: (i) => ({ kind: 'image', image: pixels(i === 5 ? 7 : 6, 6, i, 1) }),
    };
    await assert.rejects(
      collect(new DataLoader(ds, plain, { batchSize: 4 }), 0),
      /sample 5 \(in-memory sample 5\) is 1×6×7, but the batch is 1×6×6: add a resize\/crop/,
    );
    // Sample 5's batch fails while batch 0 is consumed; breaking out must not leave an unhandled rejection.
    for await (const b of new DataLoader(ds, plain, { batchSize: 2, prefetch: 3 }).epoch(0)) {
      assert.deepEqual([...b.index], [0, 1]);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('validates its options', () => {
    const ds = memoryDataset(3);
    assert.throws(() => new DataLoader(ds, plain, { batchSize: 0 }), /batchSize must be an integer ≥ 1/);
    assert.throws(() => new DataLoader(ds, plain, { batchSize: 2, concurrency: 0 }), /concurrency/);
  });
});
