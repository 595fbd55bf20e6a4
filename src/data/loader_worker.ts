// A worker thread of the DataLoader (`workers` > 0): rebuilds the pipeline from its recipe and
// loads the batches it is sent with loadBatch, the loader's own code, so its batches equal the
// main thread's. Decoding runs in sharp (libuv's threads), the pixel copies on this thread: the
// main thread only receives finished batches (transferred, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { BadImageError, fromRecipe, type Recipe } from './transforms.js';
import { loadBatch, type BatchJob } from './load_batch.js';

const port = parentPort!;
const pipeline = fromRecipe((workerData as { recipe: Recipe }).recipe);

port.on('message', async (m: BatchJob & { id: number }) => {
  try {
    const batch = await loadBatch(m, pipeline);
    port.postMessage({ id: m.id, batch }, [batch.x.buffer as ArrayBuffer]);
  } catch (e) {
    const bad = e instanceof BadImageError ? { file: e.file, reason: e.reason } : undefined;
    port.postMessage({ id: m.id, error: { message: (e as Error).message, bad } });
  }
});
