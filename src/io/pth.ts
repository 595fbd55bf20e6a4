// PyTorch `.pth` files (torch.save's zip format, PyTorch >= 1.6): a zip archive holding
// `<name>/data.pkl` (the pickled object, tensors referring to storages by persistent id),
// `<name>/data/<key>` (each storage's raw little-endian bytes) and `<name>/version`.
import { closeSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { unpickle, StorageType } from './pickle.js';
import { pickleForTorch } from './pickler.js';
import { type StateDict, dtypeSize, isRawTensor } from './raw.js';
import { Storage } from './storage.js';
import { ZipReader, writeZip } from './zip.js';

/**
 * The object a torch.save file holds, e.g. a state_dict or `{epoch: 3, state_dict: {...}}`,
 * with tensors as RawTensor (see pickle.ts for how Python values map to JS).
 * Refuses, without running anything, any pickled object other than plain data and tensors.
 */
export function loadPth(path: string): unknown {
  if (!startsWithZipMagic(path)) {
    throw new Error(`${path}: not a zip-format torch.save file (files saved before PyTorch 1.6 are not supported)`);
  }
  const zip = ZipReader.open(path);
  try {
    const first = zip.entries.keys().next().value;
    const prefix = first?.split('/')[0];
    const pickleName = `${prefix}/data.pkl`;
    if (!zip.entries.has(pickleName)) throw new Error(`${path}: no ${pickleName} in the archive: not a torch.save file`);
    const storages = new Map<string, Storage>();
    const persistentLoad = (pid: unknown): Storage => {
      // ('storage', torch.FloatStorage, key, location, numel); location (cpu, cuda:0) does not matter here.
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
        throw new Error(`${path}: unexpected persistent id in ${pickleName}; expected ('storage', type, key, location, numel)`);
      }
      const [, type, key, , count] = pid as unknown[];
      if (!(type instanceof StorageType) || typeof key !== 'string' || typeof count !== 'number') {
        throw new Error(`${path}: malformed storage reference in ${pickleName}`);
      }
      const name = `${prefix}/data/${key}`;
      const cached = storages.get(key);
      if (cached) {
        if (cached.dtype !== type.dtype) throw new Error(`${path}: storage '${name}' is used as both ${cached.dtype} and ${type.dtype}`);
        return cached;
      }
      const data = zip.read(name);
      if (data.length !== count * dtypeSize(type.dtype)) {
        throw new Error(
          `${path}: storage '${name}' has ${data.length} bytes but ${count} ${type.dtype} elements need ` +
            `${count * dtypeSize(type.dtype)}`,
        );
      }
      const storage = new Storage(type.dtype, data, `${path}: storage '${name}'`);
      storages.set(key, storage);
      return storage;
    };
    return unpickle(zip.read(pickleName), { source: path, persistentLoad }).value;
  } finally {
    zip.close();
  }
}

/** The state_dict (parameter and buffer names to tensors) saved by `torch.save(model.state_dict(), path)`. */
export function readPth(path: string): StateDict {
  const value = loadPth(path);
  if (!(value instanceof Map)) {
    throw new Error(`${path}: expected a state_dict (a dict of tensors); use loadPth to read other objects`);
  }
  for (const [key, tensor] of value) {
    if (typeof key !== 'string' || !isRawTensor(tensor)) {
      throw new Error(
        `${path}: expected a state_dict (a dict of tensors), but entry '${String(key)}' is not a tensor; ` +
          'use loadPth to read checkpoints',
      );
    }
  }
  return value as StateDict;
}

/**
 * Saves a state_dict (as an OrderedDict, like `model.state_dict()`) or any nesting of Maps, plain
 * objects, arrays and plain values holding RawTensors, in the format torch.load reads.
 * Atomic: the file is either the old one or the complete new one.
 */
export function writePth(path: string, value: unknown): void {
  const { pickle, storages } = pickleForTorch(value, path);
  const entries = [
    { name: 'archive/data.pkl', data: pickle },
    // Storages hold little-endian bytes; torch >= 2.1 reads this record, older versions ignore it.
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...storages.map((data, i) => ({ name: `archive/data/${i}`, data })),
    { name: 'archive/version', data: Buffer.from('3\n') },
  ];
  writeFileAtomic(path, (fd) => writeZip(fd, entries));
}

function startsWithZipMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const magic = new Uint8Array(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.every((b, i) => b === [0x50, 0x4b, 0x03, 0x04][i]);
  } finally {
    closeSync(fd);
  }
}
