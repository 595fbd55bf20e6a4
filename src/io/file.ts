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
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw writeError(path, e);
  }
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
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    rmSync(tmp, { force: true });
    throw writeError(path, e);
  }
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

/** Replaces a file atomically with the given text. */
export function writeTextAtomic(path: string, text: string): void {
  writeFileAtomic(path, (append) => append(Buffer.from(text)));
}

const REASONS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'a read-only file system',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'an I/O error',
  ENOTDIR: 'a part of the path is a file',
};

/** A system error code in words, for messages that say what to fix (the code itself if unknown). */
export function errnoReason(code: string): string {
  return REASONS[code] ?? code;
}

/** A system error (disk full, read-only, permissions) as an Error naming the file and the cause; others unchanged. */
function writeError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === undefined) return e;
  return Object.assign(new Error(`cannot write ${path}: ${errnoReason(code)} (${(e as Error).message}); the previous version of the file, if any, is intact`), { code, cause: e });
}
