// A static web page that classifies a dropped image with the exported model in the browser
// (onnxruntime-web, WebAssembly): the page of web/, the model, what the page needs to
// preprocess images as the run does (model.json), and onnxruntime-web's files, in one folder.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../util/rng.js';
import { writeFileAtomic } from '../io/file.js';
import type { Task } from '../train/task.js';

/** Contents of model.json. */
export interface WebModelInfo {
  classes: string[];
  /** [C, H, W] of the network's input. */
  input: [number, number, number];
  /** The image's shorter side is resized to this, then the centre is cropped to H×W. */
  resize: number;
  /** Per channel: x = (pixel / 255 − mean) / std. */
  mean: number[];
  std: number[];
  method: string;
  data: string;
  routing: string;
  /** Residual blocks of a two-branch model (the "decisions" output), else 0. */
  blocks: number;
}

const PAGE = fileURLToPath(new URL('../../web/', import.meta.url));
const PAGE_FILES = ['index.html', 'app.js'];
const ORT_FILES = ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm'];

/**
 * How the run's fileTransform turns a file into the network's input. Mean and std are
 * measured through the real pipeline (images of all-0 and all-255 pixels); the resize side is
 * the task's recorded one (task.ts: grey datasets resize to the crop, natural images to crop·256/224).
 */
export async function preprocessing(task: Task): Promise<Pick<WebModelInfo, 'input' | 'resize' | 'mean' | 'std'>> {
  const probe = await task.fileTransform({ kind: 'image', image: { data: new Uint8Array(4 * task.channels), width: 2, height: 2, channels: task.channels } }, new Rng(0));
  const [H, W] = [probe.height, probe.width];
  const constant = async (v: number) => {
    const c = task.channels;
    const out = await task.fileTransform({ kind: 'image', image: { data: new Uint8Array(H * W * c).fill(v), width: W, height: H, channels: c } }, new Rng(0));
    return Array.from({ length: c }, (_, k) => out.data[k * H * W]);
  };
  const [zero, full] = [await constant(0), await constant(255)];
  const round = (x: number) => Number(x.toPrecision(6));
  const std = zero.map((z, k) => 1 / (full[k] - z));
  return {
    input: [task.channels, H, W],
    resize: task.preprocessing.resize,
    mean: zero.map((z, k) => round(-z * std[k])),
    std: std.map(round),
  };
}

/** Writes the page, model.onnx, model.json and onnxruntime-web's files into `dir`; returns their paths. */
export function writeWebApp(dir: string, model: Uint8Array, info: WebModelInfo): string[] {
  mkdirSync(join(dir, 'ort'), { recursive: true });
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  const written: string[] = [];
  const copy = (from: string, to: string) => {
    copyFileSync(from, to);
    written.push(to);
  };
  for (const f of PAGE_FILES) copy(join(PAGE, f), join(dir, f));
  for (const f of ORT_FILES) copy(join(ortDist, f), join(dir, 'ort', f));
  writeFileAtomic(join(dir, 'model.onnx'), (append) => append(model));
  writeFileAtomic(join(dir, 'model.json'), (append) => append(Buffer.from(JSON.stringify(info, null, 2) + '\n')));
  written.push(join(dir, 'model.onnx'), join(dir, 'model.json'));
  return written;
}
