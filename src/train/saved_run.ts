// A trained run reopened from its folder, for evaluation, prediction and export.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { BadImageError, DataLoader } from '../data/index.js';
import { Rng } from '../util/rng.js';
import { evalRoutingOf, type EvalRouting, type TrainModel } from '../spottune/index.js';
import { buildRun } from './build.js';
import { evaluate } from './evaluate.js';
import { readConfigFile, type TrainConfig } from './config.js';
import { loadCheckpoint } from './checkpoint.js';
import { runPreprocessing } from './preprocessing.js';
import { MixedPrecision } from './device_precision.js';
import type { Task } from './task.js';

export interface LoadedRun {
  config: TrainConfig;
  task: Task;
  model: TrainModel;
  /** The routing at evaluation (two-branch methods; see evalRoutingOf). */
  routing?: EvalRouting;
  /** Where the model is and its inputs go ('cuda' checked into 'cuda:0'). */
  device: string;
  /** The forward pass's precision at evaluation and prediction: see loadRun. */
  mp: MixedPrecision;
}

export interface LoadRunOptions {
  checkpoint?: 'best' | 'last';
  /** Overrides the run's routing at evaluation (a --routing flag). */
  routing?: EvalRouting;
  /** Where to load the model: cpu (default), cuda or cuda:N, whatever device the run trained on. */
  device?: string;
}

/**
 * Rebuilds a trained run's model from its folder (config.json + best.pth or last.pth) on a
 * device. The checkpoint's tensors are device-free, so a run trained on a GPU opens on the CPU
 * and the other way round. Evaluation runs in the run's precision (its own test accuracy comes
 * back), except fp16, which the CPU lacks: there it runs in fp32.
 */
export function loadRun(dir: string, o: LoadRunOptions = {}): LoadedRun {
  const device = torch.checkDevice(o.device ?? 'cpu', '--device');
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${dir} is not a run folder (no config.json)`);
  const config = readConfigFile(configPath);
  const chosen = evalRoutingOf(config, o.routing);
  if (chosen) config.evalRouting = chosen;
  const ckPath = join(dir, `${o.checkpoint ?? 'best'}.pth`);
  if (!existsSync(ckPath)) throw new Error(`${ckPath} not found: has the run finished an epoch?`);
  const precision = config.precision === 'fp16' && device === 'cpu' ? 'fp32' : config.precision ?? 'fp32';
  const { task, model } = buildRun(config, { forLoading: true, preprocessing: runPreprocessing(dir) });
  model.module.to(device);
  torch.tidy(() => {
    const ck = loadCheckpoint(ckPath);
    model.module.loadStateDict(ck.get('model') as Map<string, Tensor>);
  });
  return { config, task, model, routing: chosen, device, mp: new MixedPrecision(device, precision) };
}

/** Test accuracy (top-1, top-5, in %) and per-block fine-tune frequency of a loaded run on its test set, on its device. */
export function evaluateRun(run: LoadedRun, batchSize = 128): ReturnType<typeof evaluate> {
  // A run trained with --skip-bad-images is evaluated as it was: without its unreadable test images.
  const loader = new DataLoader(run.task.test, run.task.evalTransform, { batchSize, skipBad: run.config.skipBadImages === true });
  return evaluate(run.model, loader, run.task.classes.length, undefined, run.mp);
}

export interface Prediction {
  image: string;
  class: string;
  /** Softmax probability of the class. */
  confidence: number;
  /** Per block, 1 where the image ran the fine-tuned copy (all 0 or all 1 for one-branch methods). */
  policy: number[];
}

/**
 * Classifies image files with a loaded run on its device, each resized and cropped to what its network expects.
 * A file that cannot be read becomes `{ image, error }` (and is passed to onBadImage); others go on.
 */
export async function predict(run: LoadedRun, images: string[], onBadImage?: (e: BadImageError) => void): Promise<(Prediction | { image: string; error: string })[]> {
  run.model.setTraining(false);
  const rows: (Prediction | { image: string; error: string })[] = [];
  for (const image of images) {
    let chw;
    try {
      chw = await run.task.fileTransform({ kind: 'file', path: image }, new Rng(0));
    } catch (e) {
      if (!(e instanceof BadImageError)) throw e;
      rows.push({ image, error: e.reason });
      onBadImage?.(e);
      continue;
    }
    torch.tidy(() => {
      const x = torch.toDeviceAsync(torch.tensor(chw.data, { shape: [1, chw.channels, chw.height, chw.width], device: 'cpu' }), run.device);
      const out = run.mp.forward(() => run.model.forwardEval(x));
      const p = out.logits.float().softmax(1);
      const k = p.argmax(1).item();
      rows.push({ image, class: run.task.classes[k], confidence: p.select(1, k).item(), policy: out.decisions.toArray() });
    });
  }
  return rows;
}
