// `spottune demo`: the whole story in a few minutes on two cores, offline. Pre-train a narrow
// ResNet-26 on part of Fashion-MNIST (cached under ~/.cache/spottune/demo, keyed by its
// settings, so a second demo reuses it), transfer it to font-rendered letters with 10 labelled
// images per class with five methods, print the comparison and write the HTML report.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import type { SweepConfig } from './sweep_config.js';
import { runSweep } from './sweep.js';
import { loadRuns } from './runs.js';
import { compare, formatComparison } from './table.js';
import { renderReport } from './report.js';
import { checkDevicePrecision, type Precision } from '../train/device_precision.js';

// Sized to finish in a few minutes on 2 cores (docs/experiments.md): a quarter-width
// ResNet-26, 10,000 Fashion-MNIST images for 6 epochs, then 40 epochs on 100 letters.
export const DEMO_SOURCE = {
  arch: 'resnet26', width: 0.25, data: 'fashion-mnist', perClass: 1000, epochs: 6, batchSize: 64, lr: 0.1, schedule: 'cosine', evalEvery: 6,
};
export const DEMO_METHODS = ['spottune', 'finetune', 'feature-extractor', 'l2sp', 'scratch'];
export const DEMO_TRANSFER = {
  arch: 'resnet26', width: 0.25, weights: 'source:fashion-mnist', perClass: 10, epochs: 40, batchSize: 32, lr: 0.05, schedule: 'cosine', evalEvery: 5,
  // The policy network scaled like the backbone (as in the reference code, where both are full width).
  agentWidth: 0.25,
};
const MARKER = 'demo.json';

export function demoCacheDir(): string {
  const key = createHash('sha256').update(JSON.stringify(DEMO_SOURCE)).digest('hex').slice(0, 12);
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spottune', 'demo', key);
}

/** The demo as a sweep; `device` for every run, `precision` for the transfers (the cached source model stays fp32). */
export function demoSweep(o: { device?: string; precision?: string } = {}): SweepConfig {
  const device = o.device && o.device !== 'cpu' ? { device: o.device } : {};
  const precision = o.precision && o.precision !== 'fp32' ? { precision: o.precision } : {};
  return {
    sources: { 'fashion-mnist': { ...DEMO_SOURCE, ...device } },
    base: { ...DEMO_TRANSFER, ...device, ...precision },
    methods: DEMO_METHODS,
    datasets: ['glyphs'],
    seeds: [0],
    perMethod: {},
    perDataset: {},
    variants: {},
  };
}

/** The demo's folder is its own: cleared before each demo (never a folder it did not make). */
function clearOutput(output: string): void {
  if (!existsSync(output)) return;
  if (!existsSync(join(output, MARKER))) {
    if (readdirSync(output).length > 0) throw new Error(`${output} exists and was not made by spottune demo: choose another --output`);
    return;
  }
  rmSync(output, { recursive: true, force: true });
}

export async function demoCommand(o: { output: string; jobs?: number; device?: string; precision?: Precision }): Promise<void> {
  const t0 = performance.now();
  // A device this machine lacks (or fp16 on the CPU) is refused before the output folder is touched.
  checkDevicePrecision(o.device ?? 'cpu', o.precision ?? 'fp32');
  const log = (l: string) => process.stderr.write(l + '\n');
  const sources = demoCacheDir();
  const cached = existsSync(join(sources, 'fashion-mnist', 'done'));
  log(cached
    ? `demo: reusing the source model in ${sources}`
    : `demo: pre-training a ResNet-26 (width 0.25) on ${(DEMO_SOURCE.perClass * 10).toLocaleString('en-US')} Fashion-MNIST images for ${DEMO_SOURCE.epochs} epochs (cached in ${sources} for the next demo)`);
  clearOutput(o.output);
  mkdirSync(o.output, { recursive: true });
  writeFileSync(join(o.output, MARKER), JSON.stringify({ source: sources, startedAt: new Date().toISOString() }) + '\n');
  const cfg = demoSweep(o);
  // One source model on every core, then the transfer runs two at a time on one core each.
  const summary = await runSweep(cfg, { output: o.output, jobs: o.jobs ?? 2, sourceThreads: availableParallelism(), sourcesDir: sources, sourceEpochs: true, log });
  if (summary.failed.length > 0) throw new Error(`demo: ${summary.failed.map((f) => `${f.job.name} failed: ${f.error}`).join('\n')}`);

  const runs = loadRuns(o.output);
  console.log(`\nTransfer from Fashion-MNIST to font letters A–J, ${DEMO_TRANSFER.perClass} labelled images per class, ${DEMO_TRANSFER.epochs} epochs:\n`);
  console.log(formatComparison(compare(runs), 'markdown'));
  const report = join(o.output, 'report.html');
  writeFileSync(report, renderReport(runs, {
    title: 'spottune demo: Fashion-MNIST → font letters',
    subtitle: `A quarter-width ResNet-26 pre-trained on ${(DEMO_SOURCE.perClass * 10).toLocaleString('en-US')} Fashion-MNIST images, transferred to letters A–J rendered from unseen fonts with ${DEMO_TRANSFER.perClass} labelled images per class; ${DEMO_TRANSFER.epochs} epochs, seed 0.`,
  }));
  console.log(`report: ${report}  (open it in a browser)`);
  console.log(`demo finished in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
