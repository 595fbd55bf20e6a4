// What a network expects of its input, recorded with the model (like timm's pretrained_cfg):
// channels, input side, mean/std, the evaluation resize and crop, the training augmentation and
// the class names. `pretrain` writes it into weights.safetensors' metadata, every run into
// <run>/preprocessing.json; `train --weights` starts from the source's, `predict`, `eval` and
// `export` use the run's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsMetadata } from '../io/safetensors.js';

export interface Preprocessing {
  channels: 1 | 3;
  /** Side of the (square) input. */
  imageSize: number;
  mean: number[];
  std: number[];
  /** Evaluation and prediction: the shorter side is resized to this, then the center imageSize² crop. */
  resize: number;
  /** The training augmentation, in torchvision's terms. */
  train: string;
  classes: string[];
}

/** The input settings a run may take from a source model or set by flags. */
export type InputSettings = Partial<Pick<Preprocessing, 'channels' | 'imageSize' | 'mean' | 'std'>>;

/** The key of the record in a safetensors file's `__metadata__`. */
export const METADATA_KEY = 'spottune.preprocessing';
export const PREPROCESSING_FILE = 'preprocessing.json';

/** Checks a parsed record; errors name `where` and the field. */
export function checkPreprocessing(x: unknown, where: string): Preprocessing {
  const bad = (field: string, expected: string): never => {
    throw new Error(`${where}: preprocessing field "${field}": expected ${expected}, got ${JSON.stringify((x as Record<string, unknown>)?.[field])?.slice(0, 100)}`);
  };
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new Error(`${where}: the preprocessing record must be a JSON object`);
  const p = x as Record<string, unknown>;
  if (p.channels !== 1 && p.channels !== 3) bad('channels', '1 or 3');
  if (!Number.isInteger(p.imageSize) || (p.imageSize as number) < 1 || (p.imageSize as number) > 4096) bad('imageSize', 'an integer in [1, 4096]');
  if (!Number.isInteger(p.resize) || (p.resize as number) < 1 || (p.resize as number) > 4096) bad('resize', 'an integer in [1, 4096]');
  checkStats(p.mean, p.channels as 1 | 3, 'mean', (e) => bad('mean', e));
  checkStats(p.std, p.channels as 1 | 3, 'std', (e) => bad('std', e));
  if (typeof p.train !== 'string') bad('train', 'a string');
  if (!Array.isArray(p.classes) || p.classes.some((c) => typeof c !== 'string')) bad('classes', 'an array of strings');
  return p as unknown as Preprocessing;
}

/** Mean and std: one value per channel (or one for all), finite; std positive. */
export function checkStats(v: unknown, channels: 1 | 3, what: 'mean' | 'std', fail: (expected: string) => never): number[] {
  const ok = Array.isArray(v) && (v.length === 1 || v.length === channels) && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (what === 'mean' || x > 0));
  if (!ok) fail(`1 or ${channels} finite numbers${what === 'std' ? ', positive' : ''}`);
  return v as number[];
}

/** The record in a weights file's metadata: a .safetensors written by `spottune pretrain`; otherwise none. */
export function sourcePreprocessing(weights: string): Preprocessing | undefined {
  if (!weights.endsWith('.safetensors') || !existsSync(weights)) return undefined;
  const text = readSafetensorsMetadata(weights)[METADATA_KEY];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${weights}: metadata '${METADATA_KEY}' is not JSON: ${(e as Error).message}`);
  }
  return checkPreprocessing(parsed, `${weights} (metadata '${METADATA_KEY}')`);
}

/** A run folder's record, if it has one (runs trained before it existed do not). */
export function runPreprocessing(dir: string): Preprocessing | undefined {
  const file = join(dir, PREPROCESSING_FILE);
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return checkPreprocessing(parsed, file);
}

/** One line for the user: what the source model expects, and how to override it. */
export function describeInput(p: InputSettings, from: string): string {
  return `input as ${from} expects: ${p.channels} channel${p.channels === 1 ? '' : 's'}, ${p.imageSize}×${p.imageSize}, mean [${p.mean?.join(', ')}], std [${p.std?.join(', ')}] (override with --channels, --image-size, --mean, --std)`;
}
