// One batch of samples through a pipeline into float32 NCHW pixels: the same code in the loader's
// own process and in its worker threads, so a batch does not depend on where it was made. Each
// sample draws its augmentation from Rng(seed, epoch, index).
import { describeSample, type Sample } from './dataset.js';
import { mixSeed, Rng } from '../util/rng.js';
import { BadImageError, type Chw, type Pipeline } from './transforms.js';

export interface BatchJob {
  samples: Sample[];
  /** Dataset indices of the samples. */
  indices: Int32Array;
  seed: number;
  epoch: number;
  /** Unreadable image files are left out and listed in `bad` instead of failing the batch. */
  skipBad: boolean;
}

export interface LoadedBatch {
  /** Pixels of the kept samples, NCHW (empty when every sample was skipped). */
  x: Float32Array;
  shape: [number, number, number, number];
  /** Dataset indices of the kept samples. */
  index: Int32Array;
  bad: { file: string; reason: string }[];
}

/** Runs every sample of a job through `transform` (at most `slots` at once, when given) and stacks them. */
export async function loadBatch(job: BatchJob, transform: Pipeline, slots?: { acquire(): Promise<void>; release(): void }): Promise<LoadedBatch> {
  const bad: LoadedBatch['bad'] = [];
  const results = await Promise.all(
    job.samples.map(async (sample, k) => {
      const index = job.indices[k];
      await slots?.acquire();
      try {
        return await transform(sample, new Rng(mixSeed(job.seed, job.epoch, index)));
      } catch (e) {
        if (job.skipBad && e instanceof BadImageError) {
          bad.push({ file: e.file, reason: e.reason });
          return null;
        }
        if (e instanceof BadImageError) throw e;
        throw new Error(`sample ${index} (${describeSample(sample, index)}): ${(e as Error).message}`, { cause: e });
      } finally {
        slots?.release();
      }
    }),
  );
  const kept: { k: number; chw: Chw }[] = [];
  results.forEach((chw, k) => {
    if (chw !== null) kept.push({ k, chw });
  });
  if (kept.length === 0) return { x: new Float32Array(0), shape: [0, 0, 0, 0], index: new Int32Array(0), bad };
  const { channels, height, width } = kept[0].chw;
  const size = channels * height * width;
  const x = new Float32Array(kept.length * size);
  kept.forEach(({ k, chw }, n) => {
    if (chw.channels !== channels || chw.height !== height || chw.width !== width) {
      const index = job.indices[k];
      throw new Error(
        `sample ${index} (${describeSample(job.samples[k], index)}) is ${chw.channels}×${chw.height}×${chw.width}, but the batch is ${channels}×${height}×${width}: ` +
          'add a resize/crop to the transform so every sample has the same size',
      );
    }
    x.set(chw.data, n * size);
  });
  return { x, shape: [kept.length, channels, height, width], index: Int32Array.from(kept, ({ k }) => job.indices[k]), bad };
}
