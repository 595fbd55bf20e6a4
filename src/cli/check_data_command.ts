// `spottune check-data --data <spec>`: opens a dataset as training would, then reads and
// decodes every image of both splits (through the evaluation transform, so size limits apply
// too), on all cores, and lists every file that cannot be used, with why. Exit status 1 when
// any is bad: a run started with --skip-bad-images would skip exactly these.
import { DataLoader } from '../data/loader.js';
import { openTask } from '../train/task.js';

export interface CheckDataOptions {
  data: string;
  imageSize?: number;
  json?: boolean;
  quiet?: boolean;
}

export interface BadFile {
  split: 'train' | 'test';
  path: string;
  reason: string;
}

export async function checkDataCommand(o: CheckDataOptions): Promise<BadFile[]> {
  const task = openTask({ data: o.data, seed: 0, imageSize: o.imageSize });
  for (const w of task.warnings) process.stderr.write(`spottune: warning: ${w}\n`);
  const splits = [['train', task.train], ['test', task.test]] as const;
  const total = task.train.length + task.test.length;
  const bad: BadFile[] = [];
  const tty = process.stderr.isTTY === true;
  const t0 = performance.now();
  let done = 0;
  let badSoFar = 0;
  let shown = -1;
  const show = (final = false): void => {
    if (o.quiet || o.json) return;
    const tenth = Math.floor((10 * done) / total);
    const text = `checked ${done}/${total} images, ${badSoFar} bad (${((done * 1000) / (performance.now() - t0 + 1)).toFixed(0)} img/s)`;
    if (tty) process.stderr.write(`\r${text}${final ? '\n' : ''}`);
    else if (tenth !== shown || final) process.stderr.write(`${text}\n`);
    shown = tenth;
  };
  for (const [split, dataset] of splits) {
    // skipBad: unreadable files are collected (loader.badFiles) instead of stopping the scan.
    const loader = new DataLoader(dataset, task.evalTransform, { batchSize: 32, skipBad: true });
    let skipped = 0;
    for await (const batch of loader.epoch(0)) {
      done += batch.y.length + loader.skipped - skipped;
      badSoFar += loader.skipped - skipped;
      skipped = loader.skipped;
      show();
    }
    done += loader.skipped - skipped;
    badSoFar += loader.skipped - skipped;
    for (const [path, reason] of loader.badFiles) bad.push({ split, path, reason });
  }
  show(true);
  if (o.json) console.log(JSON.stringify({ data: o.data, images: total, bad }));
  else {
    for (const b of bad) console.log(`${b.path}: ${b.reason} (${b.split})`);
    console.log(bad.length === 0 ? `${o.data}: all ${total} images can be read` : `${o.data}: ${bad.length} of ${total} images cannot be read; fix or remove them, or train with --skip-bad-images`);
  }
  if (bad.length > 0) process.exitCode = 1;
  return bad;
}
