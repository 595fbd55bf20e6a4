// Checks made before a run starts, so that an output folder that cannot be written or a disk
// too full for the checkpoints fails in the first second, with the fix, rather than after an
// epoch of work; and the clean-up of temporary files left by a killed run.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Creates `dir` if needed and proves a file can be written, synced and removed there. */
export function checkOutputDir(dir: string): void {
  const probe = join(dir, `.spottune-write-test-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'ok');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    rmSync(probe);
  } catch (e) {
    rmSync(probe, { force: true });
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'the disk is full' : err.code === 'EROFS' ? 'a read-only file system' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'ENOTDIR' ? 'a part of the path is a file' : err.code ?? 'error';
    throw new Error(`cannot write to the output folder ${dir} (${why}: ${err.message}): choose another --output, or fix the folder's permissions or free space`);
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
