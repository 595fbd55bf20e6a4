// torch.save's legacy format: PyTorch before 1.6 (the format of the SpotTune authors' files, saved
// by PyTorch 0.4) and later with _use_new_zipfile_serialization=False. Five pickles back to back
// (a magic number, the format version 1001, system info, the saved object, the sorted list of the
// storage keys it uses), then each storage in that order as an int64 element count and its bytes.
import { readFileSync } from 'node:fs';
import { unpickle } from './pickle.js';
import { dtypeSize, type DType } from './raw.js';
import { Storage, storageRef } from './storage.js';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const FORMAT_VERSION = 1001;

export function loadLegacyPth(path: string, options: { inertObjects?: boolean }): unknown {
  const bytes = readFileSync(path);
  let pos = 0;
  const next = (persistentLoad: (pid: unknown) => unknown): unknown => {
    const r = unpickle(bytes, { source: path, persistentLoad, start: pos, inertObjects: options.inertObjects });
    pos = r.end;
    return r.value;
  };
  const noIds = (): never => {
    throw new Error(`${path}: unexpected persistent id in the file header`);
  };
  let magic: unknown;
  try {
    magic = next(noIds);
  } catch {
    // not a pickle at all: fall through to the error below
  }
  if (magic !== MAGIC) throw new Error(`${path}: not a torch.save file (neither a zip archive nor the legacy format)`);
  const version = next(noIds);
  if (version !== FORMAT_VERSION) throw new Error(`${path}: legacy torch.save format ${version}, expected ${FORMAT_VERSION}`);
  const sysInfo = next(noIds);
  if (!(sysInfo instanceof Map) || sysInfo.get('little_endian') !== true) {
    throw new Error(`${path}: saved on a big-endian machine, which is not supported`);
  }

  // The storages' bytes come after the object's pickle, but its tensors need them while it is read.
  // So read it twice: first against zero-filled stand-ins, only to learn which storages it uses
  // and where it ends (the stand-ins' pages are never touched for contiguous tensors), then for real.
  const objectAt = pos;
  const used = new Map<string, { dtype: DType; numel: number; standIn: Storage }>();
  let claimed = 0;
  next((pid) => {
    if (isModuleSource(pid)) return pid[1];
    const { dtype, key, numel } = storageRef(pid, path);
    const seen = used.get(key);
    if (seen) return checkSame(seen.standIn, dtype);
    claimed += numel * dtypeSize(dtype);
    if (claimed > bytes.length) {
      throw new Error(`${path}: storage '${key}' claims ${numel} ${dtype} elements, more than the file holds`);
    }
    const standIn = new Storage(dtype, new Uint8Array(numel * dtypeSize(dtype)), `${path}: storage '${key}'`);
    used.set(key, { dtype, numel, standIn });
    return standIn;
  });
  const keys = next(noIds);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
    throw new Error(`${path}: expected the list of storage keys after the saved object`);
  }

  const storages = new Map<string, Storage>();
  let dataPos = pos;
  for (const key of keys as string[]) {
    const ref = used.get(key);
    if (!ref) throw new Error(`${path}: storage '${key}' is listed but no tensor uses it`);
    if (dataPos + 8 > bytes.length) throw new Error(`${path}: storage '${key}': file ends before its size (truncated)`);
    const numel = bytes.readBigInt64LE(dataPos);
    if (numel !== BigInt(ref.numel)) {
      throw new Error(`${path}: storage '${key}' holds ${numel} elements in the file but ${ref.numel} in the pickle`);
    }
    const start = dataPos + 8;
    dataPos = start + ref.numel * dtypeSize(ref.dtype);
    if (dataPos > bytes.length) throw new Error(`${path}: storage '${key}': file ends inside its data (truncated)`);
    storages.set(key, new Storage(ref.dtype, bytes.subarray(start, dataPos), `${path}: storage '${key}'`));
  }
  for (const key of used.keys()) {
    if (!storages.has(key)) throw new Error(`${path}: storage '${key}' is used but not listed (corrupt file)`);
  }

  pos = objectAt;
  return next((pid) => {
    if (isModuleSource(pid)) return pid[1];
    const { dtype, key } = storageRef(pid, path);
    return checkSame(storages.get(key)!, dtype);
  });
}

// The legacy format refers to an nn.Module class the first time as ('module', class, source file,
// source code), for PyTorch to warn if the source changed; here it is just the class.
function isModuleSource(pid: unknown): pid is unknown[] {
  return Array.isArray(pid) && pid.length === 4 && pid[0] === 'module';
}

function checkSame(storage: Storage, dtype: DType): Storage {
  if (storage.dtype !== dtype) throw new Error(`${storage.name} is used as both ${storage.dtype} and ${dtype}`);
  return storage;
}
