// Checks made before a run starts, so that an output folder that cannot be written or a disk
// too full for the checkpoints fails in the first second, with the fix, rather than after an
// epoch of work; and the clean-up of temporary files left by a killed run.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { errnoReason } from '../io/file.js';

/**
 * Creates `dir` if needed and proves a file can be written, synced and removed there. Returns
 * the folders it created, for removeCreated when a later check refuses the run.
 */
export function checkOutputDir(dir: string): string[] {
  const probe = join(dir, `.spottune-write-test-${process.pid}`);
  let created = false;
  const dirs: string[] = [];
  try {
    makeDirs(dir, dirs);
    const fd = openSync(probe, 'w');
    created = true;
    try {
      writeSync(fd, 'ok');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    rmSync(probe);
    return dirs;
  } catch (e) {
    if (created) rmSync(probe, { force: true });
    removeCreated(dirs);
    const err = e as NodeJS.ErrnoException;
    const why = err.code ? errnoReason(err.code) : 'error';
    throw new Error(`cannot write to the output folder ${dir} (${why}: ${err.message}): choose another --output, or fix the folder's permissions or free space`);
  }
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync reports a read-only file system
 * as ENOENT, which would send the user looking for a missing folder.
 */
function makeDirs(dir: string, created: string[]): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d);
    created.push(d);
  }
}

/** Removes the folders checkOutputDir created (deepest first), so that a refused run leaves nothing. */
export function removeCreated(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty (someone else wrote there) or already gone: left as it is.
    }
  }
}

/** Fails unless `dir`'s file system has `bytes` free for `what`. */
export function checkFreeSpace(dir: string, bytes: number, what: string): void {
  const s = statfsSync(dir);
  const free = s.bavail * s.bsize;
  if (free < bytes) {
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
    throw new Error(`${dir} has ${mb(free)} free, but ${what} need about ${mb(bytes)}: free some space, or choose another --output`);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `<file>.tmp-<pid>` files of writeFileAtomic whose process is gone (a run killed
 * while writing a checkpoint); returns their names. Those of live processes are left alone.
 */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !isRunning(Number(m[1]))) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}
