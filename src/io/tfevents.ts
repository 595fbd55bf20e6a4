// TensorBoard event files (events.out.tfevents.*), written without TensorFlow: a TFRecord
// stream (per record: uint64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of
// the bytes; little-endian) of `Event` protocol buffers, the first one holding the file version
// "brain.Event:2", each later one a `Summary` of scalars (tag, simple_value) at a step.
// The few protobuf fields needed are encoded here by hand (tensorflow/core/util/event.proto,
// tensorflow/core/framework/summary.proto).
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { maskedCrc32c } from './crc32c.js';

/** Protobuf base-128 varint of a non-negative integer (up to 2^53). */
function varint(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`tfevents: expected a non-negative integer, got ${n}`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

/** A length-delimited field (wire type 2). */
function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(bytes.length)]), bytes]);
}

/** Summary.Value { string tag = 1; float simple_value = 2; } */
function scalarValue(tag: string, value: number): Buffer {
  const f = Buffer.alloc(5);
  f[0] = (2 << 3) | 5;
  f.writeFloatLE(value, 1);
  return Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), f]);
}

export type EventContent = { fileVersion: string } | { scalars: Record<string, number> };

/** Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; } */
export function encodeEvent(wallTime: number, step: number, what: EventContent): Buffer {
  const head = Buffer.alloc(9);
  head[0] = (1 << 3) | 1;
  head.writeDoubleLE(wallTime, 1);
  const parts: Buffer[] = [head];
  if (step !== 0) parts.push(Buffer.from([2 << 3, ...varint(step)]));
  if ('fileVersion' in what) parts.push(lengthDelimited(3, Buffer.from(what.fileVersion, 'utf8')));
  else {
    const summary = Buffer.concat(Object.entries(what.scalars).map(([tag, v]) => lengthDelimited(1, scalarValue(tag, v))));
    parts.push(lengthDelimited(5, summary));
  }
  return Buffer.concat(parts);
}

/** One TFRecord: the data framed by its length and the two masked CRCs. */
export function encodeRecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(data.length));
  const crcs = Buffer.alloc(8);
  crcs.writeUInt32LE(maskedCrc32c(len), 0);
  crcs.writeUInt32LE(maskedCrc32c(data), 4);
  return Buffer.concat([len, crcs.subarray(0, 4), data, crcs.subarray(4)]);
}

/** Appends scalar summaries to a new event file in `dir` (as SummaryWriter(log_dir=dir)). */
export class EventWriter {
  readonly path: string;
  private fd: number | undefined;

  constructor(dir: string, wallTime = Date.now() / 1000) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(wallTime)}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.path, 'a');
    this.write(encodeEvent(wallTime, 0, { fileVersion: 'brain.Event:2' }));
  }

  /** Scalars of one step (non-finite values are written as they are: TensorBoard shows NaN). */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    this.write(encodeEvent(wallTime, step, { scalars: values }));
  }

  /** Makes what was written durable (after each epoch: a crash loses at most the epoch in progress). */
  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private write(event: Buffer): void {
    if (this.fd === undefined) throw new Error(`${this.path}: event file already closed`);
    writeSync(this.fd, encodeRecord(event));
  }
}
