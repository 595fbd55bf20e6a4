// Reading and writing files whole: fs.readSync/writeSync may move fewer bytes than asked, and at
// most 2 GiB per call. Writes replace files atomically: readers see the old file or the complete
// new one, never a torn write, even if the process dies mid-write (a checkpoint cut short by
// Ctrl-C must not destroy the previous one).
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const IO_CHUNK = 1 << 30;

/** `length` bytes at `position` in a fresh buffer (byteOffset 0, so any typed view is aligned). */
export function readAt(fd: number, position: number, length: number, file: string): Uint8Array {
  const out = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, out, done, Math.min(IO_CHUNK, length - done), position + done);
    if (n === 0) throw new Error(`${file}: file ended early (did it change while being read?)`);
    done += n;
  }
  return out;
}

/** Calls `write(append)` to fill `path + '.tmp-<pid>'`, fsyncs it, then renames it over `path`. */
export function writeFileAtomic(path: string, write: (append: (bytes: Uint8Array) => void) => void): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let position = 0;
  const append = (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length; ) {
      done += writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done), position + done);
    }
    position += bytes.length;
  };
  try {
    write(append);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // Make the rename itself durable. (Windows cannot open a directory to fsync it.)
  if (process.platform !== 'win32') {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }
}
