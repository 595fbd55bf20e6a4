// What the CLI's commands do; main.ts only parses flags. Loaded lazily (it loads libtorch).
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { writeWeights } from '../io/tensors.js';
import { listMethods, SpotTuneModel, type EvalRouting } from '../spottune/index.js';
import { flagOf } from '../util/options.js';
import { train, type RunResult } from '../train/engine.js';
import { makeConfig, type TrainConfig } from '../train/config.js';
import { evaluateRun, loadRun, predict } from '../train/saved_run.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { METADATA_KEY, runPreprocessing } from '../train/preprocessing.js';
import { Distributed } from '../train/distributed.js';
import type { ProcessGroupOptions } from '../torch/distributed.js';
import { Progress } from '../train/progress.js';

export interface OutputOptions {
  quiet?: boolean;
  json?: boolean;
}

function report(r: RunResult, o: OutputOptions, extra = ''): void {
  if (o.json) {
    console.log(JSON.stringify(r));
    return;
  }
  console.log(`${r.method} on ${r.data}${r.perClass ? ` (${r.perClass}/class)` : ''}: test accuracy ${r.testAcc.toFixed(2)}% (top-5 ${r.testTop5.toFixed(2)}%), best ${r.bestTestAcc.toFixed(2)}% at epoch ${r.bestEpoch + 1}; ${r.trainSeconds.toFixed(1)} s of training${extra}`);
  console.log(`fine-tune frequency per block: ${r.blockFreq.map((f) => f.toFixed(2)).join(' ')}`);
}

/** With `dist`, this process is one rank of a data-parallel run; only rank 0 reports and writes. */
export async function trainCommand(partial: Partial<TrainConfig> & Pick<TrainConfig, 'method' | 'arch' | 'data'>, output: string, o: OutputOptions & { resume?: boolean; dist?: ProcessGroupOptions }): Promise<RunResult> {
  const config = makeConfig(partial);
  const distributed = o.dist ? Distributed.init(o.dist) : undefined;
  const main = !distributed || distributed.isMain;
  const progress = new Progress(config.epochs, o.quiet === true || o.json === true || !main);
  try {
    const r = await train(config, output, { resume: o.resume, distributed, callbacks: { onBatchEnd: (b) => progress.batch(b), onEpochEnd: (m) => progress.epoch(m), onWarning: (w) => process.stderr.write(`spottune: warning: ${w}\n`) } });
    if (main && r.badImages?.length) process.stderr.write(`spottune: ${r.badImages.length} image files could not be read and were skipped (listed in ${output}/result.json)\n`);
    if (main) report(r, o, `; run in ${output}${distributed ? ` (${distributed.worldSize} processes)` : ''}`);
    return r;
  } finally {
    distributed?.destroy();
  }
}

/** Trains a source model from scratch and writes its weights to output/weights.safetensors. */
export async function pretrainCommand(partial: Partial<TrainConfig> & Pick<TrainConfig, 'arch' | 'data'>, output: string, o: OutputOptions & { resume?: boolean; dist?: ProcessGroupOptions }): Promise<string> {
  await trainCommand({ ...partial, method: 'scratch' }, output, { ...o, json: false, quiet: o.quiet || o.json });
  const weights = join(output, 'weights.safetensors');
  if (o.dist && o.dist.rank !== 0) return weights;
  torch.tidy(() => {
    const ck = loadCheckpoint(join(output, 'last.pth'));
    writeWeights(weights, ck.get('model') as Map<string, Tensor>, { [METADATA_KEY]: JSON.stringify(runPreprocessing(output)) });
  });
  if (o.json) console.log(JSON.stringify({ weights }));
  else console.log(`source weights: ${weights}`);
  return weights;
}

export async function evalCommand(dir: string, o: OutputOptions & { checkpoint?: 'best' | 'last'; routing?: EvalRouting; routed?: boolean; device?: string }): Promise<void> {
  const run = loadRun(dir, { checkpoint: o.checkpoint, routing: o.routing, device: o.device });
  const { config, task, model, routing } = run;
  if (o.routed === false) {
    if (!(model instanceof SpotTuneModel)) throw new Error(`--no-routed: method ${config.method} trains one network, which has no branches to route`);
    model.routed = false;
  }
  const t0 = performance.now();
  const r = await evaluateRun(run);
  const seconds = (performance.now() - t0) / 1000;
  const out = { run: dir, method: config.method, data: config.data, routing: routing ?? null, device: run.device, testAcc: r.acc, testTop5: r.top5, blockFreq: r.blockFreq, images: task.test.length, seconds };
  if (o.json) console.log(JSON.stringify(out));
  else {
    console.log(`${config.method} on ${config.data} (${o.checkpoint ?? 'best'} checkpoint${routing ? `, routing ${routing}` : ''}): test accuracy ${r.acc.toFixed(2)}% (top-5 ${r.top5.toFixed(2)}%) on ${task.test.length} images in ${seconds.toFixed(1)} s on ${run.device}`);
    console.log(`fine-tune frequency per block: ${r.blockFreq.map((f) => f.toFixed(2)).join(' ')}`);
  }
  model.dispose();
}

/** Classifies each image; one that cannot be read is reported and skipped, and the exit status is then 1. */
export async function predictCommand(images: string[], dir: string, o: OutputOptions & { checkpoint?: 'best' | 'last'; device?: string }): Promise<void> {
  const run = loadRun(dir, { checkpoint: o.checkpoint, device: o.device });
  const rows = await predict(run, images, (e) => {
    if (!o.json) process.stderr.write(`spottune: ${e.message}\n`);
  });
  run.model.dispose();
  if (o.json) console.log(JSON.stringify(rows));
  else for (const r of rows) if (!('error' in r)) console.log(`${r.image}: ${r.class} (${(100 * r.confidence).toFixed(1)}%)  policy ${r.policy.map((d) => (d > 0.5 ? 'F' : '·')).join('')}  (F = fine-tuned block, · = frozen)`);
  const bad = rows.filter((r) => 'error' in r).length;
  if (bad > 0) {
    process.stderr.write(`spottune: ${bad} of ${images.length} images could not be read\n`);
    process.exitCode = 1;
  }
}

/** Each method, its paper and its options with their flags and defaults. */
export function methodsCommand(): void {
  for (const m of listMethods()) {
    console.log(`${m.name.padEnd(20)} ${m.summary}`);
    if (m.paper) console.log(`${''.padEnd(20)} ${m.paper}`);
    for (const [name, spec] of Object.entries(m.options)) {
      const usage = `${flagOf(name, spec)}${spec.arg ? ` ${spec.arg}` : ''}`;
      console.log(`${''.padEnd(22)}${usage.padEnd(28)} ${spec.help}${spec.default !== undefined ? ` (default ${JSON.stringify(spec.default)})` : ''}`);
    }
  }
}
