// Inflating gzip and zlib streams within the size their own header declares: a small file whose
// stream holds gigabytes (a decompression bomb) fails with an error after at most that many
// bytes, in bounded memory and time, instead of being inflated whole before any size check.
import { constants, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';

/** Deflate's best compression ratio (258-byte matches in 2-bit codes): more is not a real stream. */
export const MAX_DEFLATE_RATIO = 1032;

export type Compression = 'gzip' | 'zlib';

const inflaters: Record<Compression, (b: Uint8Array, o: ZlibOptions) => Buffer> = { gzip: gunzipSync, zlib: inflateSync };

/**
 * The first `n` bytes of the inflated stream (fewer if it is shorter), for reading a header: the
 * compressed input is fed in growing prefixes, so a bomb yields at most MAX_DEFLATE_RATIO × 4n bytes.
 */
export function inflatePrefix(format: Compression, compressed: Uint8Array, n: number, where: string): Buffer {
  for (let k = 64; ; k *= 4) {
    let out: Buffer;
    try {
      // Z_SYNC_FLUSH: a cut stream gives what it has instead of "unexpected end of file".
      out = inflaters[format](compressed.subarray(0, k), { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw new Error(`${where}: corrupt ${format} data: ${(e as Error).message}`);
    }
    if (out.length >= n || k >= compressed.length) return out.subarray(0, n);
  }
}

/**
 * Inflates the whole stream, failing as soon as it passes `limit` bytes; `declared` says where
 * the limit comes from, for the error (e.g. 'that its IDX header declares').
 */
export function inflateBounded(format: Compression, compressed: Uint8Array, limit: number, where: string, declared: string): Buffer {
  try {
    return inflaters[format](compressed, { maxOutputLength: Math.max(1, limit) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`${where}: the ${format} stream inflates to more than the ${limit} bytes ${declared}: the file is corrupt (or a decompression bomb)`);
    }
    throw new Error(`${where}: corrupt ${format} data: ${(e as Error).message}`);
  }
}
