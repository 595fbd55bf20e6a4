// One job of a sweep, in its own process: `worker.js <run|source> <dir>` trains the
// configuration in <dir>/config.json, resuming from <dir>/last.pth when there is one, then
// writes the `done` marker last. Threads come from SPOTTUNE_THREADS (set by the sweep).
// It stops when the sweep that started it dies, so a killed sweep leaves no orphan writing into
// a folder that a re-run is about to resume. Training rarely lets the event loop reach I/O (so
// the IPC channel's 'disconnect' may come late): each batch also checks that the parent is the same.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DONE_FILE, PID_FILE, type DoneMarker, type WorkerMessage } from './run_files.js';

const [kind, dir] = process.argv.slice(2);
if ((kind !== 'run' && kind !== 'source') || !dir) {
  process.stderr.write('usage: worker.js <run|source> <dir>\n');
  process.exit(2);
}
const onDisconnect = () => process.exit(1);
process.on('disconnect', onDisconnect);
const parent = process.ppid;
const stopIfOrphaned = () => {
  if (process.ppid !== parent) process.exit(1);
};
const send = (m: WorkerMessage) => process.send?.(m);

writeFileSync(join(dir, PID_FILE), String(process.pid));
// A setting the file lacks (a sweep begun before it was declared) takes its default.
const { readConfigFile } = await import('../train/config.js');
const config = readConfigFile(join(dir, 'config.json'));
const { train } = await import('../train/engine.js');
const { writeTextAtomic } = await import('../io/file.js');
const { recordExamples, writeExamples, EXAMPLES_FILE } = await import('./examples.js');
const { Progress } = await import('../train/progress.js');
const progress = new Progress(config.epochs, false);
const result = await train(config, dir, {
  resume: true,
  callbacks: {
    onBatchEnd: stopIfOrphaned,
    onEpochEnd: (m) => {
      stopIfOrphaned();
      progress.epoch(m);
      send({ type: 'epoch', epoch: m.epoch, epochs: config.epochs, testAcc: m.testAcc, trainLoss: m.trainLoss, seconds: m.seconds });
    },
    onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
    onTrainEnd: async (run) => {
      if (kind === 'run') writeExamples(join(dir, EXAMPLES_FILE), await recordExamples(run, config.device));
    },
  },
});
if (kind === 'source') {
  const torch = await import('../torch/index.js');
  const { writeWeights } = await import('../io/tensors.js');
  const { loadCheckpoint } = await import('../train/checkpoint.js');
  const { METADATA_KEY, runPreprocessing } = await import('../train/preprocessing.js');
  const metadata = { [METADATA_KEY]: JSON.stringify(runPreprocessing(dir)) };
  torch.tidy(() => writeWeights(join(dir, 'weights.safetensors'), loadCheckpoint(join(dir, 'last.pth')).get('model') as Map<string, InstanceType<typeof torch.Tensor>>, metadata));
}
const done: DoneMarker = { kind, testAcc: result.testAcc, finishedAt: new Date().toISOString() };
writeTextAtomic(join(dir, DONE_FILE), JSON.stringify(done) + '\n');
if (existsSync(join(dir, PID_FILE))) rmSync(join(dir, PID_FILE));
send({ type: 'done', testAcc: result.testAcc, trainSeconds: result.trainSeconds });
process.off('disconnect', onDisconnect);
process.disconnect?.();
