// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON (padded with spaces to a multiple of 8) mapping each tensor name
// to {dtype, shape, data_offsets: [begin, end]} relative to the data that follows, plus an optional
// "__metadata__" of string pairs. The tensors' bytes must tile the data exactly: no gaps, no overlaps.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readAt, writeFileAtomic } from './file.js';
import { type DType, type RawTensor, type StateDict, dtypeSize, numel } from './raw.js';

const CODES: Record<string, DType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const CODE_OF = Object.fromEntries(Object.entries(CODES).map(([code, dtype]) => [dtype, code])) as Record<DType, string>;
// The reference implementation's limit: a bigger header is a lie or an attack.
const MAX_HEADER = 100_000_000;

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** The tensors, in the order of their data in the file. */
export function readSafetensors(path: string): StateDict {
  return loadSafetensors(path).tensors;
}

/** The tensors and the `__metadata__` string pairs. */
export function loadSafetensors(path: string): Safetensors {
  return load(path, true);
}

/** Only the `__metadata__` string pairs (the header is read and checked, the tensors' data is not). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  return load(path, false).metadata;
}

function load(path: string, withTensors: boolean): Safetensors {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const read = (position: number, length: number) => readAt(fd, position, length, path);
    if (fileSize < 8) throw new Error(`${path}: ${fileSize} bytes is too small for a safetensors file`);
    const headerLength = new DataView(read(0, 8).buffer).getBigUint64(0, true);
    if (headerLength > BigInt(Math.min(MAX_HEADER, fileSize - 8))) {
      throw new Error(
        `${path}: header length ${headerLength} exceeds the file (${fileSize} bytes) or the ${MAX_HEADER}-byte limit: ` +
          'truncated, or not a safetensors file',
      );
    }
    const dataStart = 8 + Number(headerLength);
    const { entries, metadata } = parseHeader(read(8, dataStart - 8), fileSize - dataStart, path);
    const tensors: StateDict = new Map();
    for (const { key, dtype, shape, begin, end } of withTensors ? entries : []) {
      tensors.set(key, { dtype, shape, data: read(dataStart + begin, end - begin) });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

interface HeaderEntry {
  key: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(bytes: Uint8Array, dataSize: number, path: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${path}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) throw new Error(`${path}: header must be a JSON object`);
  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') {
      if (!isObject(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        throw new Error(`${path}: __metadata__ must map strings to strings`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    const where = `${path}: tensor '${key}'`;
    if (!isObject(info)) throw new Error(`${where}: expected {dtype, shape, data_offsets}`);
    const { dtype: code, shape, data_offsets: offsets } = info;
    if (typeof code !== 'string' || !Object.hasOwn(CODES, code)) {
      throw new Error(`${where}: dtype ${typeof code === 'string' ? JSON.stringify(code.slice(0, 100)) : typeof code} is not one of ${Object.keys(CODES).join(', ')}`);
    }
    if (!isIntArray(shape)) throw new Error(`${where}: shape must be a list of non-negative integers`);
    if (!isIntArray(offsets) || offsets.length !== 2 || offsets[0] > offsets[1]) {
      throw new Error(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end`);
    }
    const dtype = CODES[code];
    const expected = numel(shape) * dtypeSize(dtype);
    if (offsets[1] - offsets[0] !== expected) {
      throw new Error(
        `${where}: data_offsets [${offsets}] span ${offsets[1] - offsets[0]} bytes but ${code} [${shape}] needs ${expected}`,
      );
    }
    entries.push({ key, dtype, shape, begin: offsets[0], end: offsets[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin !== covered) {
      throw new Error(
        `${path}: tensor '${e.key}' starts at data byte ${e.begin}, but the tensors before it end at ${covered} ` +
          '(overlapping or missing data)',
      );
    }
    if (e.end > dataSize) {
      throw new Error(`${path}: tensor '${e.key}' ends at data byte ${e.end}, past the ${dataSize} bytes of data (truncated?)`);
    }
    covered = e.end;
  }
  if (covered !== dataSize) throw new Error(`${path}: the tensors cover ${covered} of the ${dataSize} data bytes`);
  return { entries, metadata };
}

/** Writes `sd` in order, with optional `__metadata__`; atomic like writePth. */
export function writeSafetensors(path: string, sd: StateDict, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`${path}: metadata '${k}' must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [key, t] of sd) {
    checkTensor(t, `${path}: tensor '${key}'`);
    if (key === '__metadata__') throw new Error(`${path}: '__metadata__' is reserved and cannot name a tensor`);
    header[key] = { dtype: CODE_OF[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, ' ')]);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  writeFileAtomic(path, (append) => {
    append(prefix);
    append(json);
    for (const t of sd.values()) append(t.data);
  });
}

function checkTensor(t: RawTensor, where: string): void {
  if (!Object.hasOwn(CODE_OF, t.dtype)) throw new Error(`${where}: unknown dtype '${t.dtype}'`);
  if (!isIntArray(t.shape)) throw new Error(`${where}: shape [${t.shape}] must be non-negative integers`);
  const expected = numel(t.shape) * dtypeSize(t.dtype);
  if (t.data.length !== expected) {
    throw new Error(`${where}: has ${t.data.length} bytes but ${t.dtype} [${t.shape}] needs ${expected}`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isIntArray(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => Number.isSafeInteger(v) && v >= 0);
}
