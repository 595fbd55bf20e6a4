// Data-parallel scaling: training images/s of the real `spottune pretrain` command with
//   1 process × 1 thread, 2 processes × 1 thread (--nproc 2), and 1 process × 2 threads,
// on an image folder generated here (48×48 PNGs, RandomResizedCrop(40) + flip, ResNet-26 at
// width 0.5, global batch 64). Each configuration runs `rounds` times, interleaved, and reports
// the median over rounds of the mean images/s of epochs 2..E (epoch 1 warms up); evaluation
// and start-up are not timed (the engine's own per-epoch images/s). It also reports the CPU
// time of the whole command (all processes, start-up included) per training image: steadier
// than images/s when other work shares the cores, and what shows the cost of communication.
// Run: node --import tsx bench/distributed.ts [rounds=2]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { median } from './harness.js';

const rounds = Number(process.argv[2] ?? 2);
const CLASSES = 4;
const TRAIN_PER_CLASS = 128;
const EPOCHS = 3;
const dir = mkdtempSync(join(tmpdir(), 'spottune-bench-dist-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// Noise images with a class-dependent tint: enough for the pipeline to do real work.
async function makeFolder(): Promise<string> {
  const root = join(dir, 'data');
  for (const [split, n] of [['train', TRAIN_PER_CLASS], ['val', 4]] as const) {
    for (let c = 0; c < CLASSES; c++) {
      const folder = join(root, split, `class${c}`);
      mkdirSync(folder, { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = Buffer.alloc(48 * 48 * 3);
        for (let k = 0; k < px.length; k++) px[k] = (Math.random() * 160 + (k % 3 === c % 3 ? 80 : 0)) | 0;
        await sharp(px, { raw: { width: 48, height: 48, channels: 3 } }).png().toFile(join(folder, `${i}.png`));
      }
    }
  }
  return root;
}

interface Measure {
  imagesPerSec: number;
  cpuMsPerImage: number;
}

function measure(root: string, name: string, extra: string[], threads: number): Measure {
  const out = join(dir, `${name}-${Math.random().toString(36).slice(2)}`);
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'pretrain', '--data', `imagefolder:${root}`, '--image-size', '40', '--arch', 'resnet26', '--width', '0.5',
    '--epochs', String(EPOCHS), '--eval-every', '1000', '--batch-size', '64', '--lr', '0.05', '--quiet', '--output', out, ...extra];
  // bash's `times` prints the CPU time of its children (the command and every process it started).
  const r = spawnSync('bash', ['-c', '"$@"; s=$?; times >&2; exit $s', 'bash', process.execPath, ...args], { encoding: 'utf8', env: { ...process.env, SPOTTUNE_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`${name} failed:\n${r.stderr}`);
  const [user, sys] = r.stderr.trim().split('\n').pop()!.split(/\s+/).map((t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    if (!m) throw new Error(`cannot read the CPU time "${t}" from bash's times`);
    return Number(m[1]) * 60 + Number(m[2]);
  });
  const epochs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { imagesPerSec: number });
  const timed = epochs.slice(1);
  return { imagesPerSec: timed.reduce((s, m) => s + m.imagesPerSec, 0) / timed.length, cpuMsPerImage: (1000 * (user + sys)) / (EPOCHS * CLASSES * TRAIN_PER_CLASS) };
}

const root = await makeFolder();
const configs = [
  { name: '1 process × 1 thread', extra: ['--threads', '1'], threads: 1 },
  { name: '2 processes × 1 thread (--nproc 2)', extra: ['--nproc', '2', '--threads', '1'], threads: 1 },
  { name: '1 process × 2 threads', extra: ['--threads', '2'], threads: 2 },
];
const results = configs.map(() => [] as Measure[]);
for (let round = 0; round < rounds; round++) configs.forEach((c, i) => results[i].push(measure(root, c.name, c.extra, c.threads)));

console.log(`machine: ${cpus()[0].model}, ${availableParallelism()} cores; ${CLASSES * TRAIN_PER_CLASS} training images, ${EPOCHS} epochs, median of ${rounds} rounds`);
console.log('| configuration | images/s | speed-up | CPU ms per image (all processes) |');
console.log('| --- | ---: | ---: | ---: |');
const base = median(results[0].map((m) => m.imagesPerSec));
configs.forEach((c, i) => {
  const v = median(results[i].map((m) => m.imagesPerSec));
  console.log(`| ${c.name} | ${v.toFixed(1)} | ${(v / base).toFixed(2)}× | ${median(results[i].map((m) => m.cpuMsPerImage)).toFixed(1)} |`);
});
