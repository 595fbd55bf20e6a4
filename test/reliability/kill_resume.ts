// Kills a real training process (SIGKILL) at chosen moments and resumes it each time, until it
// finishes; then compares it with an uninterrupted run of the same configuration. Moments are
// random delays after a start, or "during a checkpoint write": as soon as a `*.pth.tmp-<pid>`
// file appears in the run folder. Used by test/reliability/interrupt.test.ts (few kills) and
// scripts/interrupt.ts (five).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.js';
import * as torch from '../../src/torch/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { CLI, ROOT, runCli, tempFiles } from './cli.js';

export type Moment = { kind: 'random'; afterMs: number } | { kind: 'checkpoint-write' };

export interface Kill {
  moment: Moment;
  /** Milliseconds from the start of that process to the kill. */
  atMs: number;
  /** Whether the process was still running when killed (it may have finished first). */
  killed: boolean;
  /** Temporary files of atomic writes in the run folder right after the kill. */
  tempFiles: string[];
  /** Epochs in metrics.jsonl after the kill. */
  epochsDone: number;
}

const epochsDone = (dir: string) => {
  const p = join(dir, 'metrics.jsonl');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).length : 0;
};

/** Runs `spottune <args>` to completion; throws with its stderr if it fails. */
export function runToEnd(args: string[]): void {
  const r = runCli(args);
  if (r.status !== 0) throw new Error(`spottune ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}`);
}

/** Starts `spottune <args>` and SIGKILLs it at `moment`. */
async function startAndKill(args: string[], dir: string, moment: Moment): Promise<Kill> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let atMs = 0;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) {
      atMs = performance.now() - t0;
      child.kill('SIGKILL');
    }
  };
  let stop = () => {};
  if (moment.kind === 'random') {
    const timer = setTimeout(kill, moment.afterMs);
    stop = () => clearTimeout(timer);
  } else {
    // inotify: the callback runs as soon as the temporary file is created, well before its fsync and rename.
    while (!existsSync(dir)) await new Promise((r) => setTimeout(r, 5));
    const watcher = watch(dir, (_event, name) => {
      if (name && /\.pth\.tmp-\d+$/.test(name)) kill();
    });
    stop = () => watcher.close();
  }
  const code = await exited;
  stop();
  const killed = atMs > 0;
  if (!killed && code !== 0) throw new Error(`the run failed on its own (exit ${code}):\n${stderr}`);
  return { moment, atMs, killed, tempFiles: existsSync(dir) ? tempFiles(dir) : [], epochsDone: epochsDone(dir) };
}

/** How long the uninterrupted run took, start-up included, and its epochs. */
export interface Timing {
  totalMs: number;
  epochs: number;
}

/** Runs `spottune <args>` to completion, timed. */
export function timedRun(args: string[], epochs: number): Timing {
  const t0 = performance.now();
  runToEnd(args);
  return { totalMs: performance.now() - t0, epochs };
}

/**
 * Kills the run of `args` (which must end in `--output dir`) `kills` times, resuming after each,
 * then resumes it once more to the end. One kill, at a random position in the sequence, comes
 * during a checkpoint write; the others at a random time in the first half of what is left of the run, estimated
 * from `timing` and the epochs still to do.
 */
export async function interruptedRun(args: string[], dir: string, kills: number, timing: Timing, seed: number, afterKill?: (k: Kill) => void): Promise<Kill[]> {
  const rng = new Rng(seed);
  const duringWrite = rng.int(0, kills);
  const out: Kill[] = [];
  for (let k = 0; k < kills; k++) {
    const remainingMs = (timing.totalMs * Math.max(1, timing.epochs - epochsDone(dir))) / timing.epochs;
    const moment: Moment = k === duringWrite ? { kind: 'checkpoint-write' } : { kind: 'random', afterMs: Math.round(rng.uniform(0.05, 0.5) * remainingMs) };
    const resume = existsSync(join(dir, 'config.json')) ? ['--resume'] : [];
    out.push(await startAndKill([...args, ...resume], dir, moment));
    afterKill?.(out[out.length - 1]);
  }
  runToEnd([...args, '--resume']);
  return out;
}

/** Model weights of a checkpoint, as bytes per key. */
function weightsOf(checkpoint: string): Map<string, Buffer> {
  return torch.tidy(() => {
    const model = loadCheckpoint(checkpoint).get('model') as Map<string, torch.Tensor>;
    return new Map([...model].map(([k, t]) => {
      const d = t.data();
      return [k, Buffer.from(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength))];
    }));
  });
}

const withoutTimings = (x: Record<string, unknown>) => {
  const { seconds: _s, imagesPerSec: _i, trainSeconds: _t, ...rest } = x;
  return rest;
};

/** How run `b` differs from run `a`: checkpoint weights bit for bit, metrics and result (timings aside). */
export function differences(a: string, b: string): string[] {
  const out: string[] = [];
  for (const f of ['last.pth', 'best.pth']) {
    const wa = weightsOf(join(a, f));
    const wb = weightsOf(join(b, f));
    if ([...wa.keys()].join() !== [...wb.keys()].join()) out.push(`${f}: different keys`);
    for (const [k, bytes] of wa) if (!wb.get(k)?.equals(bytes)) out.push(`${f}: ${k} differs`);
  }
  const metrics = (run: string) => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.stringify(withoutTimings(JSON.parse(l))));
  const [ma, mb] = [metrics(a), metrics(b)];
  if (ma.length !== mb.length) out.push(`metrics.jsonl: ${mb.length} epochs, expected ${ma.length}`);
  ma.forEach((m, i) => m !== mb[i] && out.push(`metrics.jsonl: epoch ${i} differs`));
  const result = (run: string) => JSON.stringify(withoutTimings(JSON.parse(readFileSync(join(run, 'result.json'), 'utf8'))));
  if (result(a) !== result(b)) out.push('result.json differs');
  return out;
}

/** Every file a run folder holds parses completely; returns the ones that do not. */
export function halfWritten(run: string): string[] {
  const bad: string[] = [];
  const check = (f: string, read: (path: string) => unknown) => {
    if (!existsSync(join(run, f))) return;
    try {
      read(join(run, f));
    } catch (e) {
      bad.push(`${f}: ${(e as Error).message}`);
    }
  };
  for (const f of ['last.pth', 'best.pth']) check(f, (p) => torch.tidy(() => loadCheckpoint(p)));
  for (const f of ['config.json', 'result.json']) check(f, (p) => JSON.parse(readFileSync(p, 'utf8')));
  check('metrics.jsonl', (p) => readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  return bad;
}
