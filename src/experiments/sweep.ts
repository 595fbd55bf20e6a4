// Runs a sweep (see sweep_config.ts): the source models first, then every run, each in its own
// child process (worker.ts) with `jobs` of them at a time and `threads` libtorch threads each.
// Every job lives in its own folder: <output>/<method>/<dataset>/seed<k>/ and
// <sources>/<name>/. A job with a `done` marker is skipped; one without is resumed from its
// last checkpoint, so re-running a killed sweep finishes exactly the work that is left.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../io/file.js';
import { planSweep, type Job, type SweepConfig } from './sweep_config.js';
import { sameRun } from '../train/config.js';
import { LOG_FILE, livingWorker, readDone, type WorkerMessage } from './run_files.js';

export interface SweepOptions {
  output: string;
  /** Jobs at a time (child processes). Default 1. */
  jobs?: number;
  /** libtorch threads per job. Default: the cores divided among the jobs. */
  threads?: number;
  /** Where source models live. Default <output>/sources. */
  sourcesDir?: string;
  /** Names the configuration in errors (its file). */
  where?: string;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  /** libtorch threads per source model (pre-training steps often run one at a time). Default: threads. */
  sourceThreads?: number;
  /** Also log every epoch of the source models (long pre-training). */
  sourceEpochs?: boolean;
}

export interface JobOutcome {
  job: Job;
  status: 'skipped' | 'done' | 'failed';
  /** Exit code or signal, and the end of the job's log, for failures. */
  error?: string;
}

export interface SweepSummary {
  sources: JobOutcome[];
  runs: JobOutcome[];
  failed: JobOutcome[];
}

const WORKER = fileURLToPath(new URL(`./worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
// From TypeScript sources (development, tests) the worker needs tsx, found from here, not the cwd.
const WORKER_ARGS = WORKER.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), WORKER] : [WORKER];
const STALE_WORKER_WAIT_MS = 120_000;

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, (append) => append(Buffer.from(JSON.stringify(value, null, 2) + '\n')));
}

/**
 * Writes a job's config.json, or checks that the one there is the same but for where it computes
 * (device, workers: a sweep started on a GPU resumes on the CPU; the new values are written).
 */
function prepare(job: Job): void {
  mkdirSync(job.dir, { recursive: true });
  const path = join(job.dir, 'config.json');
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8'));
    if (!sameRun(saved, job.config)) {
      throw new Error(`${path} holds another configuration than this sweep's for ${job.name}: delete that folder to run it again with the new settings, or choose another --output`);
    }
    if (JSON.stringify(saved) === JSON.stringify(job.config)) return;
  }
  writeJson(path, job.config);
}

/** Every job's device and precision checked on this machine (see checkDevicePrecision), before any folder is made. */
export async function checkDevices(jobs: readonly Job[]): Promise<void> {
  const { checkDevicePrecision } = await import('../train/device_precision.js');
  const seen = new Set<string>();
  for (const { name, config: c } of jobs) {
    const key = `${c.device}|${c.precision}`;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      checkDevicePrecision(c.device ?? 'cpu', c.precision ?? 'fp32');
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  }
}

/** Waits while a worker of an earlier (killed) sweep still holds the folder: it stops by itself. */
async function waitForStaleWorker(job: Job, log: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  let told = false;
  for (let pid = livingWorker(job.dir); pid !== undefined; pid = livingWorker(job.dir)) {
    if (!told) log(`${job.name}: waiting for process ${pid} (an earlier sweep's worker) to stop`);
    told = true;
    if (Date.now() - t0 > STALE_WORKER_WAIT_MS) throw new Error(`${job.dir} is still being trained by process ${pid}: is another sweep running on ${job.dir}?`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tail(path: string, lines: number): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Runs one job in a child process; resolves when it exits. */
function runJob(job: Job, threads: number, onMessage: (m: WorkerMessage) => void): Promise<string | undefined> {
  const log = openSync(join(job.dir, LOG_FILE), 'a');
  const child = spawn(process.execPath, [...WORKER_ARGS, job.kind, job.dir], {
    // OpenMP threads that spin while waiting make a busy machine several times slower (measured
    // here: a 2-thread training step 4× slower than 1 thread when other work shares the cores).
    env: { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, SPOTTUNE_THREADS: String(threads) },
    stdio: ['ignore', log, log, 'ipc'],
  });
  closeSync(log);
  child.on('message', (m) => onMessage(m as WorkerMessage));
  return new Promise((res) => {
    child.on('error', (e) => res(e.message));
    child.on('exit', (code, signal) => {
      if (code === 0 && readDone(job.dir)) res(undefined);
      else res(`${signal ? `killed by ${signal}` : `exit code ${code}`}; end of ${join(job.dir, LOG_FILE)}:\n${tail(join(job.dir, LOG_FILE), 8)}`);
    });
  });
}

/** Runs jobs, `jobs` at a time, skipping finished ones. */
async function runPool(list: Job[], o: Required<Pick<SweepOptions, 'jobs' | 'threads' | 'log'>> & { epochs: boolean }): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = list.map((job) => ({ job, status: readDone(job.dir) ? 'skipped' : 'failed' }));
  const todo = outcomes.filter((x) => x.status !== 'skipped');
  let next = 0;
  let finished = 0;
  const slot = async () => {
    while (next < todo.length) {
      const out = todo[next++];
      const { job } = out;
      await waitForStaleWorker(job, o.log);
      const t0 = performance.now();
      const error = await runJob(job, o.threads, (m) => {
        if (m.type === 'epoch' && o.epochs) {
          o.log(`${job.name}: epoch ${m.epoch + 1}/${m.epochs}, loss ${m.trainLoss.toFixed(3)}${m.testAcc === null ? '' : `, test ${m.testAcc.toFixed(2)}%`}, ${m.seconds.toFixed(1)} s`);
        }
      });
      finished++;
      const seconds = (performance.now() - t0) / 1000;
      if (error) {
        out.error = error;
        o.log(`[${finished}/${todo.length}] ${job.name}: FAILED (${error.split('\n')[0]})`);
      } else {
        out.status = 'done';
        o.log(`[${finished}/${todo.length}] ${job.name}: ${readDone(job.dir)!.testAcc.toFixed(2)}% in ${seconds.toFixed(0)} s`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.jobs, Math.max(1, todo.length)) }, slot));
  return outcomes;
}

/** Opens each dataset of the pending jobs once, so parallel jobs do not render the same cache twice. */
async function warmDatasets(jobs: Job[]): Promise<void> {
  const { openTask } = await import('../train/task.js');
  const seen = new Set<string>();
  for (const { config: c } of jobs) {
    if (seen.has(c.data)) continue;
    seen.add(c.data);
    openTask({ data: c.data, seed: c.seed, imageSize: c.imageSize });
  }
}

export async function runSweep(cfg: SweepConfig, options: SweepOptions): Promise<SweepSummary> {
  const output = resolve(options.output);
  const jobs = options.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got ${jobs}`);
  const threads = options.threads ?? Math.max(1, Math.floor(availableParallelism() / jobs));
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${threads}`);
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const plan = planSweep(cfg, output, { sourcesDir: options.sourcesDir, where: options.where });
  await checkDevices([...plan.sources, ...plan.runs]);
  for (const job of [...plan.sources, ...plan.runs]) prepare(job);
  writeJson(join(output, 'sweep.json'), cfg);

  const pending = [...plan.sources, ...plan.runs].filter((j) => !readDone(j.dir));
  const finishedBefore = plan.sources.length + plan.runs.length - pending.length;
  log(`sweep: ${plan.runs.length} runs and ${plan.sources.length} source model(s) in ${output}; ${finishedBefore} finished before, ${pending.length} to do (${jobs} job(s) × ${threads} thread(s))`);
  await warmDatasets(pending);

  const pool = { jobs, threads, log };
  const sources = await runPool(plan.sources, { ...pool, threads: options.sourceThreads ?? threads, epochs: options.sourceEpochs === true });
  const badSources = sources.filter((s) => s.status === 'failed');
  if (badSources.length > 0) return { sources, runs: plan.runs.map((job) => ({ job, status: 'failed', error: 'not run: a source model failed' })), failed: badSources };
  const runs = await runPool(plan.runs, { ...pool, epochs: false });
  return { sources, runs, failed: runs.filter((r) => r.status === 'failed') };
}
