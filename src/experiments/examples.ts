// A few test images of a finished run with the model's prediction and routing (which blocks
// each image ran fine-tuned), saved as examples.json for the report: two images of each of the
// first twelve classes, one forward pass, pixels kept small (the image itself, or a 64-pixel
// thumbnail of an image file).
import sharp from 'sharp';
import * as torch from '../torch/index.js';
import type { Image } from '../data/index.js';
import { Rng } from '../util/rng.js';
import { writeFileAtomic } from '../io/file.js';
import type { BuiltRun } from '../train/build.js';

export const EXAMPLES_FILE = 'examples.json';
const PER_CLASS = 2;
const MAX_CLASSES = 12;
const THUMBNAIL = 64;

export interface Example {
  /** Index in the test set. */
  index: number;
  label: number;
  pred: number;
  confidence: number;
  /** Per block: 1 = fine-tuned block, 0 = frozen. */
  decisions: number[];
  image: { width: number; height: number; channels: number; pixels: string };
}

export interface Examples {
  classes: string[];
  numBlocks: number;
  examples: Example[];
}

async function pixelsOf(run: BuiltRun, index: number): Promise<Image> {
  const sample = run.task.test.get(index);
  if (sample.kind === 'image') return sample.image;
  const { data, info } = await sharp(sample.path).resize(THUMBNAIL, THUMBNAIL, { fit: 'inside' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

/** `device`: where the run's model is (the images are copied there). */
export async function recordExamples(run: BuiltRun, device = 'cpu'): Promise<Examples> {
  const { task, model } = run;
  const picked: number[] = [];
  const count = new Map<number, number>();
  for (let i = 0; i < task.test.length; i++) {
    const y = task.test.labels[i];
    if (y >= MAX_CLASSES || (count.get(y) ?? 0) >= PER_CLASS) continue;
    count.set(y, (count.get(y) ?? 0) + 1);
    picked.push(i);
  }
  if (picked.length === 0) return { classes: task.classes, numBlocks: model.numBlocks, examples: [] };
  const inputs = await Promise.all(picked.map((i) => task.evalTransform(task.test.get(i), new Rng(0))));
  const { channels, height, width } = inputs[0];
  const x = new Float32Array(inputs.length * channels * height * width);
  inputs.forEach((c, k) => x.set(c.data, k * c.data.length));
  model.setTraining(false);
  const [probs, decisions] = torch.tidy(() => {
    const out = model.forwardEval(torch.toDeviceAsync(torch.tensor(x, { shape: [inputs.length, channels, height, width], device: 'cpu' }), device));
    return [out.logits.softmax(1).toArray(), out.decisions.toArray()];
  });
  const C = task.classes.length;
  const L = model.numBlocks;
  const examples: Example[] = [];
  for (const [k, index] of picked.entries()) {
    const p = probs.slice(k * C, (k + 1) * C);
    const pred = p.indexOf(Math.max(...p));
    const img = await pixelsOf(run, index);
    examples.push({
      index, label: task.test.labels[index], pred, confidence: p[pred],
      decisions: decisions.slice(k * L, (k + 1) * L),
      image: { width: img.width, height: img.height, channels: img.channels, pixels: Buffer.from(img.data).toString('base64') },
    });
  }
  return { classes: task.classes, numBlocks: L, examples };
}

export function writeExamples(path: string, e: Examples): void {
  writeFileAtomic(path, (append) => append(Buffer.from(JSON.stringify(e) + '\n')));
}
