// The fuzzer's parent: runs each target's inputs in a child process (worker.ts) with a heap
// limit, a per-input watchdog and an RSS ceiling, so that a crash, a hang or a memory blow-up is
// recorded against the input that caused it (its files are saved for reproduction) and the run
// goes on from the next input.
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Job, Result } from './worker.js';

export interface FuzzOptions {
  targets: string[];
  /** Inputs per target. */
  n: number;
  /** First input index (to reproduce one input: from = i, n = 1). */
  from?: number;
  seed: number;
  /** Scratch folder. */
  workDir: string;
  /** Where the inputs behind failures are copied. */
  failDir: string;
  /** Per-input time limit. */
  timeoutMs: number;
  /** V8 heap limit of the child. */
  heapMb: number;
  /** RSS ceiling of the child, checked after each input and polled while one runs. */
  rssMb: number;
  onResult?: (target: string, r: Result) => void;
}

export interface Failure {
  i: number;
  kind: string;
  message: string;
  saved?: string;
}

export interface TargetReport {
  target: string;
  inputs: number;
  accepted: number;
  rejected: number;
  failures: Failure[];
  maxMs: number;
  seconds: number;
}

const WORKER = join(import.meta.dirname, 'worker.ts');

function vmRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs inputs [from, from + n) of one target, restarting the child after each crash or hang. */
async function fuzzTarget(target: string, o: FuzzOptions): Promise<TargetReport> {
  const dir = join(o.workDir, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const from = o.from ?? 0;
  const report: TargetReport = { target, inputs: 0, accepted: 0, rejected: 0, failures: [], maxMs: 0, seconds: 0 };
  const t0 = performance.now();
  const save = (i: number): string | undefined => {
    const input = join(dir, 'input');
    if (!existsSync(input)) return undefined;
    const to = join(o.failDir, `${target}-${i}`);
    rmSync(to, { recursive: true, force: true });
    cpSync(input, to, { recursive: true });
    return to;
  };
  let next = from;
  while (next < from + o.n) {
    const failure = await new Promise<Failure | null>((resolve, reject) => {
      const child: ChildProcess = fork(WORKER, [], {
        execArgv: ['--import', 'tsx', `--max-old-space-size=${o.heapMb}`],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      let finished = false;
      let ready = false;
      let harness: string | undefined;
      let killedFor: Failure | null = null;
      const current = () => {
        try {
          return Number(readFileSync(join(dir, 'current'), 'utf8'));
        } catch {
          return next;
        }
      };
      const kill = (kind: string, message: string) => {
        if (killedFor) return;
        killedFor = { i: current(), kind, message };
        child.kill('SIGKILL');
      };
      // The watchdog restarts at every result; the first input also pays for loading the child.
      let watchdog = setTimeout(() => kill('hang', `no result within ${o.timeoutMs + 20000} ms (child start + input)`), o.timeoutMs + 20000);
      const poll = setInterval(() => {
        const rss = vmRssBytes(child.pid!);
        if (rss > o.rssMb * 2 ** 20) kill('memory', `RSS reached ${(rss / 2 ** 20).toFixed(0)} MiB (limit ${o.rssMb} MiB)`);
      }, 100);
      child.on('message', (m: Result | { done: true } | { ready: true } | { harness: string }) => {
        if ('harness' in m) {
          harness = m.harness;
          return;
        }
        if ('ready' in m) {
          ready = true;
          return;
        }
        if ('done' in m) {
          finished = true;
          return;
        }
        clearTimeout(watchdog);
        watchdog = setTimeout(() => kill('hang', `input took more than ${o.timeoutMs} ms`), o.timeoutMs);
        next = m.i + 1;
        report.inputs++;
        report.maxMs = Math.max(report.maxMs, m.ms);
        if (m.outcome === 'accepted') report.accepted++;
        else if (m.outcome === 'rejected') report.rejected++;
        else report.failures.push({ i: m.i, kind: m.kind!, message: m.message!, saved: m.saved });
        o.onResult?.(target, m);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(watchdog);
        clearInterval(poll);
        if (finished && code === 0) return resolve(null);
        if (harness) return reject(new Error(harness));
        if (killedFor) return resolve(killedFor);
        if (!ready) return reject(new Error(`the fuzz worker failed while starting (not an input's fault):\n${stderr}`));
        const heap = /heap out of memory|Allocation failed/.test(stderr);
        resolve({ i: current(), kind: heap ? 'memory' : 'crash', message: `child exited with ${signal ?? `code ${code}`}: ${stderr.trim().split('\n').slice(-6).join(' | ')}` });
      });
      child.send({ target, from: next, to: from + o.n, seed: o.seed, dir, rssLimit: o.rssMb * 2 ** 20, failDir: o.failDir } satisfies Job);
    });
    if (failure) {
      failure.saved = save(failure.i);
      report.failures.push(failure);
      report.inputs++;
      next = failure.i + 1;
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

export async function runFuzz(o: FuzzOptions): Promise<TargetReport[]> {
  mkdirSync(o.failDir, { recursive: true });
  const reports: TargetReport[] = [];
  for (const target of o.targets) reports.push(await fuzzTarget(target, o));
  return reports;
}

export const TARGETS = ['pth', 'pth-legacy', 'pickle', 'safetensors', 'idx', 'image', 'mat', 'flowers', 'cars', 'decathlon', 'image-list', 'cub', 'config', 'sweep'];
