// A minimal zip archive reader and writer: what PyTorch's `.pth` files need, nothing more.
// The reader trusts nothing in the file: every offset and length is checked against the file's
// real size before anything is read or allocated, and every entry's CRC-32 is verified.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';
import { MAX_DEFLATE_RATIO } from './inflate.js';
import { readAt } from './file.js';

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL_DIR = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIR = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA = 0x0001;
// torch.save pads the local header with this extra field so that data starts 64-byte aligned.
const PAD_EXTRA = 0x4246; // 'FB'
const ALIGNMENT = 64;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  headerOffset: number;
}

/** Reads entries on demand from an open file; call close() when done. */
export class ZipReader {
  /** Entries in central-directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
  private readonly fd: number;
  private readonly fileSize: number;
  private readonly centralDirOffset: number;

  private constructor(readonly file: string, fd: number) {
    this.fd = fd;
    this.fileSize = fstatSync(fd).size;
    const { offset, size, count } = this.findCentralDirectory();
    this.centralDirOffset = offset;
    this.entries = this.readCentralDirectory(offset, size, count);
  }

  static open(file: string): ZipReader {
    const fd = openSync(file, 'r');
    try {
      return new ZipReader(file, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** The entry's uncompressed bytes in a fresh buffer (byteOffset 0, so any typed view is aligned). */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`${this.file}: zip archive has no entry '${name}'`);
    const where = `${this.file}: zip entry '${name}'`;
    const local = this.readAt(entry.headerOffset, 30, `${where}: local header`);
    const view = dataView(local);
    if (view.getUint32(0, true) !== LOCAL_HEADER) {
      throw new Error(`${where}: no local header signature at offset ${entry.headerOffset} (corrupt archive)`);
    }
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    const localName = this.readAt(entry.headerOffset + 30, nameLength, `${where}: local header name`);
    if (Buffer.from(localName).toString('utf8') !== name) {
      throw new Error(`${where}: local header names a different entry (corrupt archive)`);
    }
    const dataOffset = entry.headerOffset + 30 + nameLength + extraLength;
    if (dataOffset + entry.compressedSize > this.centralDirOffset) {
      throw new Error(
        `${where}: ${entry.compressedSize} bytes at offset ${dataOffset} run past the entries' end ` +
          `(${this.centralDirOffset}): the archive is truncated or its sizes are wrong`,
      );
    }
    const stored = this.readAt(dataOffset, entry.compressedSize, `${where}: data`);
    const data = entry.method === 0 ? stored : inflate(stored, entry, where);
    const actual = crc32(data) >>> 0;
    if (actual !== entry.crc32) {
      throw new Error(
        `${where}: CRC-32 is ${hex32(actual)} but the archive says ${hex32(entry.crc32)} (the file is corrupt)`,
      );
    }
    return data;
  }

  private readAt(position: number, length: number, what: string): Uint8Array {
    if (position < 0 || length < 0 || position + length > this.fileSize) {
      throw new Error(
        `${what}: ${length} bytes at offset ${position} lie outside the file (${this.fileSize} bytes): ` +
          `truncated or corrupt`,
      );
    }
    return readAt(this.fd, position, length, this.file);
  }

  private findCentralDirectory(): { offset: number; size: number; count: number } {
    const file = this.file;
    if (this.fileSize < 22) throw new Error(`${file}: ${this.fileSize} bytes is too small to be a zip archive`);
    // The end record is the last 22 bytes plus a comment of up to 64 KiB; a zip64 locator precedes it.
    const tailLength = Math.min(this.fileSize, 20 + 22 + U16_MAX);
    const tailStart = this.fileSize - tailLength;
    const tail = this.readAt(tailStart, tailLength, `${file}: zip end record`);
    const view = dataView(tail);
    let end = -1;
    for (let p = tailLength - 22; p >= 0 && p >= tailLength - 22 - U16_MAX; p--) {
      if (view.getUint32(p, true) === END_OF_CENTRAL_DIR && p + 22 + view.getUint16(p + 20, true) === tailLength) {
        end = p;
        break;
      }
    }
    if (end < 0) throw new Error(`${file}: no zip end-of-central-directory record (not a zip archive, or truncated)`);
    let count = view.getUint16(end + 10, true);
    let size = view.getUint32(end + 12, true);
    let offset = view.getUint32(end + 16, true);
    let limit = tailStart + end; // the central directory must end before this
    if (end >= 20 && view.getUint32(end - 20, true) === ZIP64_LOCATOR) {
      const recordOffset = u64(view, end - 12, `${file}: zip64 locator`);
      limit = tailStart + end - 20;
      if (recordOffset + 56 > limit) throw new Error(`${file}: zip64 end record offset ${recordOffset} is out of range`);
      const record = dataView(this.readAt(recordOffset, 56, `${file}: zip64 end record`));
      if (record.getUint32(0, true) !== ZIP64_END_OF_CENTRAL_DIR) {
        throw new Error(`${file}: no zip64 end record at offset ${recordOffset} (corrupt archive)`);
      }
      count = u64(record, 32, `${file}: zip64 entry count`);
      size = u64(record, 40, `${file}: zip64 central directory size`);
      offset = u64(record, 48, `${file}: zip64 central directory offset`);
      limit = recordOffset;
    } else if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
      throw new Error(`${file}: zip end record needs a zip64 record, which is missing (corrupt archive)`);
    }
    if (offset + size > limit) {
      throw new Error(
        `${file}: central directory (${size} bytes at offset ${offset}) runs past its end record at ${limit}: ` +
          `truncated or corrupt`,
      );
    }
    if (count * 46 > size) throw new Error(`${file}: ${count} entries cannot fit a ${size}-byte central directory`);
    return { offset, size, count };
  }

  private readCentralDirectory(offset: number, size: number, count: number): Map<string, ZipEntry> {
    const file = this.file;
    const cd = this.readAt(offset, size, `${file}: central directory`);
    const view = dataView(cd);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      const what = `${file}: central directory entry ${i}`;
      if (p + 46 > size || view.getUint32(p, true) !== CENTRAL_HEADER) {
        throw new Error(`${what}: no entry header at offset ${offset + p} (corrupt archive)`);
      }
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      const nameLength = view.getUint16(p + 28, true);
      const extraLength = view.getUint16(p + 30, true);
      const commentLength = view.getUint16(p + 32, true);
      const next = p + 46 + nameLength + extraLength + commentLength;
      if (next > size) throw new Error(`${what}: runs past the central directory (corrupt archive)`);
      const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLength)).toString('utf8');
      const where = `${file}: zip entry '${name}'`;
      if (flags & 1) throw new Error(`${where}: encrypted entries are not supported`);
      if (method !== 0 && method !== 8) {
        throw new Error(`${where}: compression method ${method} is not supported (only stored and deflate)`);
      }
      let size32 = view.getUint32(p + 24, true);
      let compressed32 = view.getUint32(p + 20, true);
      let headerOffset32 = view.getUint32(p + 42, true);
      // Zip64 stores the real values, in this order, for exactly the fields that read 0xFFFFFFFF.
      const needed = [size32, compressed32, headerOffset32].filter((v) => v === U32_MAX).length;
      if (needed > 0) {
        const extra = findExtra(view, p + 46 + nameLength, extraLength, ZIP64_EXTRA);
        if (!extra || extra.length < needed * 8) throw new Error(`${where}: zip64 sizes are missing (corrupt archive)`);
        let q = extra.offset;
        const take = () => u64(view, (q += 8) - 8, `${where}: zip64 field`);
        if (size32 === U32_MAX) size32 = take();
        if (compressed32 === U32_MAX) compressed32 = take();
        if (headerOffset32 === U32_MAX) headerOffset32 = take();
      }
      const entry: ZipEntry = {
        name,
        method,
        crc32: view.getUint32(p + 16, true),
        compressedSize: compressed32,
        size: size32,
        headerOffset: headerOffset32,
      };
      if (method === 0 && entry.size !== entry.compressedSize) {
        throw new Error(`${where}: stored entry has size ${entry.size} but ${entry.compressedSize} stored bytes`);
      }
      if (entry.headerOffset + 30 + entry.compressedSize > offset) {
        throw new Error(`${where}: data at offset ${entry.headerOffset} overlaps the central directory (corrupt archive)`);
      }
      if (entries.has(name)) throw new Error(`${where}: appears twice (ambiguous archive)`);
      entries.set(name, entry);
      p = next;
    }
    return entries;
  }
}

function inflate(compressed: Uint8Array, entry: ZipEntry, where: string): Uint8Array {
  // Deflate cannot expand data by more than 1032:1, so a larger declared size is a lie.
  if (entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw new Error(`${where}: claims ${entry.size} bytes from ${entry.compressedSize} compressed bytes, beyond what deflate can do`);
  }
  let out: Buffer;
  try {
    out = inflateRawSync(compressed, { maxOutputLength: Math.max(1, entry.size) });
  } catch (e) {
    throw new Error(`${where}: cannot inflate (${(e as Error).message}); the file is corrupt or its size is wrong`);
  }
  if (out.length !== entry.size) {
    throw new Error(`${where}: inflates to ${out.length} bytes but the archive says ${entry.size}`);
  }
  // zlib may hand back a slice of a pooled buffer; callers rely on byteOffset 0.
  return out.byteOffset === 0 ? new Uint8Array(out.buffer, 0, out.length) : new Uint8Array(out);
}

function findExtra(view: DataView, start: number, length: number, id: number): { offset: number; length: number } | undefined {
  let p = start;
  while (p + 4 <= start + length) {
    const fieldId = view.getUint16(p, true);
    const fieldLength = view.getUint16(p + 2, true);
    if (p + 4 + fieldLength > start + length) return undefined;
    if (fieldId === id) return { offset: p + 4, length: fieldLength };
    p += 4 + fieldLength;
  }
  return undefined;
}

function u64(view: DataView, offset: number, what: string): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: value ${v} is out of range (corrupt archive)`);
  return Number(v);
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hex32(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
}

/**
 * Writes a zip archive of stored (uncompressed) entries through `append`, laid out like
 * torch.save's: each entry's data 64-byte aligned, CRC-32 and sizes in the headers, and a zip64
 * end record (plus zip64 fields wherever a size or offset needs them).
 */
export function writeZip(append: (bytes: Uint8Array) => void, entries: readonly ZipInput[]): void {
  let position = 0;
  const put = (bytes: Uint8Array) => {
    append(bytes);
    position += bytes.length;
  };
  const central: Uint8Array[] = [];
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data) >>> 0;
    const offset = position;
    const big = data.length >= U32_MAX;
    const zip64Local = big ? zip64Extra([data.length, data.length]) : new Uint8Array(0);
    const unpadded = offset + 30 + nameBytes.length + zip64Local.length + 4;
    const padding = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
    const pad = new Uint8Array(4 + padding).fill(0x5a); // 'Z', as torch.save writes
    dataView(pad).setUint16(0, PAD_EXTRA, true);
    dataView(pad).setUint16(2, padding, true);

    const local = new Uint8Array(30);
    const lv = dataView(local);
    lv.setUint32(0, LOCAL_HEADER, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? U32_MAX : data.length, true);
    lv.setUint32(22, big ? U32_MAX : data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, zip64Local.length + pad.length, true);
    put(local);
    put(nameBytes);
    put(zip64Local);
    put(pad);
    put(data);

    const farOffset = offset >= U32_MAX;
    const zip64Central = zip64Extra([...(big ? [data.length, data.length] : []), ...(farOffset ? [offset] : [])]);
    const header = new Uint8Array(46);
    const hv = dataView(header);
    hv.setUint32(0, CENTRAL_HEADER, true);
    hv.setUint16(4, big || farOffset ? 45 : 20, true);
    hv.setUint16(6, big || farOffset ? 45 : 20, true);
    hv.setUint32(16, crc, true);
    hv.setUint32(20, big ? U32_MAX : data.length, true);
    hv.setUint32(24, big ? U32_MAX : data.length, true);
    hv.setUint16(28, nameBytes.length, true);
    hv.setUint16(30, zip64Central.length, true);
    hv.setUint32(42, farOffset ? U32_MAX : offset, true);
    central.push(header, nameBytes, zip64Central);
  }
  const cdOffset = position;
  for (const part of central) put(part);
  const cdSize = position - cdOffset;

  const record = new Uint8Array(56);
  const rv = dataView(record);
  rv.setUint32(0, ZIP64_END_OF_CENTRAL_DIR, true);
  rv.setBigUint64(4, 44n, true); // size of the rest of this record
  rv.setUint16(12, 45, true);
  rv.setUint16(14, 45, true);
  rv.setBigUint64(24, BigInt(entries.length), true);
  rv.setBigUint64(32, BigInt(entries.length), true);
  rv.setBigUint64(40, BigInt(cdSize), true);
  rv.setBigUint64(48, BigInt(cdOffset), true);
  const recordOffset = position;
  put(record);

  const locator = new Uint8Array(20);
  const lv = dataView(locator);
  lv.setUint32(0, ZIP64_LOCATOR, true);
  lv.setBigUint64(8, BigInt(recordOffset), true);
  lv.setUint32(16, 1, true); // number of disks
  put(locator);

  const end = new Uint8Array(22);
  const ev = dataView(end);
  ev.setUint32(0, END_OF_CENTRAL_DIR, true);
  ev.setUint16(8, Math.min(entries.length, U16_MAX), true);
  ev.setUint16(10, Math.min(entries.length, U16_MAX), true);
  ev.setUint32(12, Math.min(cdSize, U32_MAX), true);
  ev.setUint32(16, Math.min(cdOffset, U32_MAX), true);
  put(end);
}

function zip64Extra(values: number[]): Uint8Array {
  if (values.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(4 + 8 * values.length);
  const v = dataView(out);
  v.setUint16(0, ZIP64_EXTRA, true);
  v.setUint16(2, 8 * values.length, true);
  values.forEach((x, i) => v.setBigUint64(4 + 8 * i, BigInt(x), true));
  return out;
}
