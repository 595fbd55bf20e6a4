// The files a sweep keeps in each job's folder beside the engine's own (config.json,
// metrics.jsonl, last.pth, best.pth, result.json): the `done` marker, written last, and the
// id of the process training it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const DONE_FILE = 'done';
export const PID_FILE = 'worker.pid';
export const LOG_FILE = 'train.log';

export interface DoneMarker {
  kind: 'run' | 'source';
  testAcc: number;
  finishedAt: string;
}

/** What a worker tells the sweep that started it. */
export type WorkerMessage =
  | { type: 'epoch'; epoch: number; epochs: number; testAcc: number | null; trainLoss: number; seconds: number }
  | { type: 'done'; testAcc: number; trainSeconds: number };

export function readDone(dir: string): DoneMarker | undefined {
  const path = join(dir, DONE_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DoneMarker) : undefined;
}

/** The process still training this folder (an earlier sweep's worker), if any. */
export function livingWorker(dir: string): number | undefined {
  const path = join(dir, PID_FILE);
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A reused pid belongs to some other program: only a worker of this folder counts.
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes(dir) ? pid : undefined;
  } catch {
    return pid;
  }
}
