// Checkpoints: everything an exact resume needs (model, optimizers, schedules, the random
// generator, epoch, best result), in one .pth file that PyTorch can open too. Written
// atomically (temporary file, fsync, rename), so a crash leaves the old or the new one.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadPth, writePth } from '../io/pth.js';
import { isRawTensor, type RawTensor } from '../io/raw.js';
import { rawToTensor, tensorToRaw } from '../io/tensors.js';
import type { GradScalerState, OptimizerStateDict } from '../optim/index.js';

/** Replaces every Tensor in a nested value (Maps, arrays, plain objects) by f(tensor). */
function mapTensors(x: unknown, f: (t: Tensor) => unknown): unknown {
  if (x instanceof torch.Tensor) return f(x);
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [k, mapTensors(v, f)]));
  if (Array.isArray(x)) return x.map((v) => mapTensors(v, f));
  if (typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mapTensors(v, f)]));
  }
  return x;
}

/** The inverse: RawTensors to Tensors; pickled dicts (Maps with string keys) stay Maps. */
function mapRaw(x: unknown): unknown {
  if (isRawTensor(x)) return rawToTensor(x as RawTensor);
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [k, mapRaw(v)]));
  if (Array.isArray(x)) return x.map(mapRaw);
  return x;
}

export function saveCheckpoint(path: string, value: Record<string, unknown>): void {
  writePth(path, mapTensors(value, tensorToRaw));
}

/** A checkpoint's content, tensors as Tensors and dicts as Maps (dispose the tensors when done). */
export function loadCheckpoint(path: string): Map<string, unknown> {
  if (!existsSync(path)) throw new Error(`checkpoint not found: ${path}`);
  const value = loadPth(path);
  if (!(value instanceof Map)) throw new Error(`${path}: not a spottune checkpoint (expected a dict at the top)`);
  return mapRaw(value) as Map<string, unknown>;
}

/** Plain JS view of a pickled dict: Maps with string keys become objects, recursively. */
export function plain(x: unknown): unknown {
  if (x instanceof torch.Tensor) return x;
  if (x instanceof Map) {
    if ([...x.keys()].every((k) => typeof k === 'string')) return Object.fromEntries([...x].map(([k, v]) => [k, plain(v)]));
    return new Map([...x].map(([k, v]) => [k, plain(v)]));
  }
  if (Array.isArray(x)) return x.map(plain);
  return x;
}

/** Everything an exact resume restores, besides the model: optimizers, schedules, the random generator, progress. */
export interface RunState {
  epoch: number;
  optimizers: OptimizerStateDict[];
  schedulers: unknown[];
  best: { acc: number; epoch: number };
  /** JSON of the epochs' metrics so far (a crash before metrics.jsonl is rewritten loses nothing). */
  metrics: string;
  /** With --ema: the averaged state dict (a Map when saved; an object of tensors when loaded). */
  ema?: Map<string, Tensor> | Record<string, Tensor>;
  /** fp16 runs: the loss scale and its growth count. */
  scaler?: GradScalerState;
}

/** Writes a run's `last` checkpoint: the model's state dict, the run state and the random generator(s). */
export function saveRunCheckpoint(path: string, model: Map<string, Tensor>, state: RunState, device = 'cpu'): void {
  torch.tidy(() => saveCheckpoint(path, {
    epoch: state.epoch, model, optimizers: state.optimizers, schedulers: state.schedulers, rng: torch.getRngState(), best: state.best, metrics: state.metrics,
    ...(state.ema ? { ema: state.ema } : {}),
    // A GPU run draws its Gumbel noise and coin flips from the GPU's generator.
    ...(device.startsWith('cuda') ? { rngDevice: torch.getRngState(device) } : {}),
    ...(state.scaler ? { scaler: state.scaler } : {}),
  }));
}

/**
 * Reads a run's `last` checkpoint: `restore` loads the model's weights, optimizers and schedules
 * from it (its tensors are freed afterwards); the random generator is set; the state is returned.
 */
export function loadRunCheckpoint(path: string, restore: (model: Map<string, Tensor>, state: RunState) => void, device = 'cpu'): RunState {
  const ck = loadCheckpoint(path);
  const c = plain(ck) as RunState & { rng: Tensor; rngDevice?: Tensor };
  const sd = ck.get('model') as Map<string, Tensor>;
  restore(sd, c);
  torch.setRngState(c.rng);
  // Resumed on the GPU it was trained on: its generator too (elsewhere the run moved devices).
  if (c.rngDevice && device.startsWith('cuda')) torch.setRngState(c.rngDevice, device);
  torch.dispose([sd, c]);
  return c;
}
