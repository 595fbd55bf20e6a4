// The loader: batches of float32 NCHW pixels and int32 labels, with seeded shuffling per epoch,
// drop_last, and prefetch. Decoding and resampling run in sharp on libuv's threads, so the next
// batches are prepared while the main thread computes; a bounded window of batches in flight
// keeps memory flat. Each sample's augmentation draws from Rng(seed, epoch, index), so results
// do not depend on which decode finishes first, nor on where the batch is made.
// With `workers`, whole batches are made on worker threads (worker_pool.ts): the pixel work and
// the decodes' completions no longer wait for a main thread that is busy with a training step.
import { availableParallelism } from 'node:os';
import type { Dataset } from './dataset.js';
import { mixSeed, Rng } from '../util/rng.js';
import type { Pipeline } from './transforms.js';
import { loadBatch, type LoadedBatch } from './load_batch.js';
import { WorkerPool } from './worker_pool.js';

export interface Batch {
  /** Pixels, NCHW. */
  x: Float32Array;
  shape: [number, number, number, number];
  y: Int32Array;
  /** Dataset indices of the samples. */
  index: Int32Array;
}

export interface LoaderOptions {
  batchSize: number;
  /** Reshuffle every epoch, from (seed, epoch). Default false. */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Seeds shuffling and augmentation. Default 0. */
  seed?: number;
  /** Batches prepared ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /** Samples decoded at once (in this thread). Default: twice the number of cores. */
  concurrency?: number;
  /**
   * Worker threads that make whole batches (0: this thread). The batches are the same for any
   * number; the pipeline must be built from the built-in transforms (it has a `recipe`).
   * Batches in flight: at least two per worker. Default 0.
   */
  workers?: number;
  /**
   * Skip images that cannot be decoded (counted in `skipped`) instead of failing. A batch
   * with skipped images is smaller; a batch whose images all failed is left out.
   */
  skipBad?: boolean;
}

// Tag of the shuffling stream, distinct from the per-sample streams (seed, epoch, index).
const SHUFFLE_STREAM = -1;

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number;
  readonly prefetch: number;
  readonly concurrency: number;
  readonly skipBad: boolean;
  readonly workers: number;
  private pool?: WorkerPool;
  /** Images skipped so far (over all epochs), and why, by file. */
  skipped = 0;
  readonly badFiles = new Map<string, string>();

  constructor(
    readonly dataset: Dataset,
    readonly transform: Pipeline,
    options: LoaderOptions,
  ) {
    this.batchSize = options.batchSize;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.seed = options.seed ?? 0;
    this.prefetch = options.prefetch ?? 2;
    this.concurrency = options.concurrency ?? 2 * availableParallelism();
    this.skipBad = options.skipBad ?? false;
    this.workers = options.workers ?? 0;
    for (const [name, v, min] of [['batchSize', this.batchSize, 1], ['prefetch', this.prefetch, 0], ['concurrency', this.concurrency, 1], ['workers', this.workers, 0]] as const) {
      if (!Number.isInteger(v) || v < min) throw new RangeError(`DataLoader: ${name} must be an integer ≥ ${min}, got ${v}`);
    }
    if (this.workers > 0 && !transform.recipe) {
      throw new Error('DataLoader: workers need a pipeline made by compose() from the built-in transforms (resize, centerCrop, randomCrop, randomResizedCrop, randomHorizontalFlip); this one has other steps: use workers: 0');
    }
  }

  /** Ends the worker threads (once their batches are done); the loader makes them again if used. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch: 0..n-1, or a permutation seeded by (seed, epoch). */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (this.shuffle) return new Rng(mixSeed(this.seed, SHUFFLE_STREAM, epoch)).permutation(n);
    return Int32Array.from({ length: n }, (_, i) => i);
  }

  /** The batches of one epoch, prepared `prefetch` batches ahead. */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const plans: Int32Array[] = [];
    for (let b = 0; b < this.length; b++) plans.push(order.subarray(b * this.batchSize, (b + 1) * this.batchSize));

    const slots = new Semaphore(this.concurrency);
    const window: Promise<Batch | null>[] = [];
    let next = 0;
    // Every worker busy with one batch while it has another queued.
    const ahead = Math.max(this.prefetch, 2 * this.workers);
    const fill = (inFlight: number): void => {
      while (next < plans.length && window.length < inFlight) {
        const p = this.load(next, plans[next++], epoch, slots);
        p.catch(() => {}); // Awaited in order below; this only keeps an early failure from being "unhandled".
        window.push(p);
      }
    };
    for (;;) {
      fill(Math.max(1, ahead));
      const pending = window.shift();
      if (pending === undefined) return;
      const batch = await pending;
      // These batches are prepared while the consumer works on this one.
      fill(ahead);
      // Let the event loop turn once per batch: Node runs the finalizers of collected tensor
      // handles only then, and in-memory datasets would otherwise resolve every batch through
      // microtasks alone, so a training loop's memory would grow for as long as it runs.
      await new Promise((resolve) => setImmediate(resolve));
      if (batch !== null) yield batch;
    }
  }

  private async load(b: number, indices: Int32Array, epoch: number, slots: Semaphore): Promise<Batch | null> {
    const job = { samples: Array.from(indices, (i) => this.dataset.get(i)), indices, seed: this.seed, epoch, skipBad: this.skipBad };
    let r: LoadedBatch;
    if (this.workers > 0) {
      this.pool ??= new WorkerPool(this.workers, this.transform.recipe!);
      r = await this.pool.run(b, job);
    } else {
      r = await loadBatch(job, this.transform, slots);
    }
    for (const { file, reason } of r.bad) {
      this.skipped++;
      this.badFiles.set(file, reason);
    }
    if (r.index.length === 0) return null;
    return { x: r.x, shape: r.shape, y: Int32Array.from(r.index, (i) => this.dataset.labels[i]), index: r.index };
  }
}

/** Limits how many samples are decoded at once (the rest wait in FIFO order). */
class Semaphore {
  private waiting: (() => void)[] = [];

  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const wake = this.waiting.shift();
    if (wake) wake();
    else this.free++;
  }
}
