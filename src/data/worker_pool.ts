// The DataLoader's worker threads: batch b of an epoch goes to worker b mod n, each answer is
// matched to its request by id. A worker keeps the process alive only while it has work, so an
// abandoned loader does not hold the process open; idle workers are never terminated mid-decode
// (sharp must not be unloaded under a running operation), they end with the process or close().
import { Worker } from 'node:worker_threads';
import { BadImageError, type Recipe } from './transforms.js';
import type { BatchJob, LoadedBatch } from './load_batch.js';

const ENTRY = new URL(`./loader_worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url);

/** A thread running the entry; from TypeScript sources (development, tests) it first registers tsx's loader. */
function start(recipe: Recipe): Worker {
  if (!ENTRY.pathname.endsWith('.ts')) return new Worker(ENTRY, { workerData: { recipe } });
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`;
  return new Worker(boot, { eval: true, workerData: { recipe } });
}

type Reply = { id: number; batch: LoadedBatch } | { id: number; error: { message: string; bad?: { file: string; reason: string } } };

class LoaderThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (b: LoadedBatch) => void; reject: (e: Error) => void }>();
  private failure?: Error;

  constructor(recipe: Recipe) {
    this.worker = start(recipe);
    this.worker.unref();
    this.worker.on('message', (r: Reply) => {
      const p = this.pending.get(r.id)!;
      this.settled(r.id);
      if ('batch' in r) p.resolve(r.batch);
      else p.reject(r.error.bad ? new BadImageError(r.error.bad.file, r.error.bad.reason) : new Error(r.error.message));
    });
    const fail = (e: Error) => {
      this.failure = new Error(`a data loader worker thread stopped: ${e.message}`, { cause: e });
      for (const [id, p] of this.pending) {
        this.settled(id);
        p.reject(this.failure);
      }
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  run(id: number, job: BatchJob): Promise<LoadedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...job, id });
    });
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) {
      this.worker.unref();
      this.idle?.();
    }
  }

  private idle?: () => void;

  /** Ends the thread once its batches are done. */
  async close(): Promise<void> {
    if (this.pending.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.worker.terminate();
  }
}

export class WorkerPool {
  private readonly threads: LoaderThread[];
  private next = 0;

  constructor(readonly size: number, recipe: Recipe) {
    this.threads = Array.from({ length: size }, () => new LoaderThread(recipe));
  }

  /** Loads a batch on the `b`-th worker, b mod size. */
  run(b: number, job: BatchJob): Promise<LoadedBatch> {
    return this.threads[b % this.size].run(this.next++, job);
  }

  /** Ends the threads once their batches are done. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
