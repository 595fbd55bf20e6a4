// Atomic file replacement: readers see the old file or the complete new one, never a torn write,
// even if the process dies mid-write (a checkpoint interrupted by Ctrl-C must not be lost).
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/** Calls `write(fd)` on `path + '.tmp-<pid>'`, fsyncs it, then renames it over `path`. */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    write(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // Persist the rename itself; Windows cannot open directories, and needs no such step.
  if (process.platform !== 'win32') {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
