// PyTorch `.pth` files. torch.save's zip format (PyTorch >= 1.6) is a zip archive holding
// `<name>/data.pkl` (the pickled object, tensors referring to storages by persistent id),
// `<name>/data/<key>` (each storage's raw little-endian bytes) and `<name>/version`.
// Older files use the legacy format (pth_legacy.ts).
import { closeSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './file.js';
import { PyObject, unpickle } from './pickle.js';
import { pickleForTorch } from './pickler.js';
import { loadLegacyPth } from './pth_legacy.js';
import { type StateDict, dtypeSize, isRawTensor } from './raw.js';
import { Storage, storageRef } from './storage.js';
import { ZipReader, writeZip } from './zip.js';

export interface LoadOptions {
  /**
   * Read objects of classes other than plain data and tensors, such as a whole pickled
   * nn.Module, as inert PyObject records instead of refusing them. Nothing is executed either way.
   */
  inertObjects?: boolean;
}

/**
 * The object a torch.save file holds, e.g. a state_dict or `{epoch: 3, state_dict: {...}}`,
 * with tensors as RawTensor (see pickle.ts for how Python values map to JS).
 * Refuses, without running anything, any pickled object other than plain data and tensors.
 */
export function loadPth(path: string, options: LoadOptions = {}): unknown {
  return startsWithZipMagic(path) ? loadZipPth(path, options) : loadLegacyPth(path, options);
}

function loadZipPth(path: string, options: LoadOptions): unknown {
  const zip = ZipReader.open(path);
  try {
    // Like PyTorch, take the archive's name from its first entry.
    const first = zip.entries.keys().next().value ?? '';
    const archive = first.split('/')[0];
    const pickleName = `${archive}/data.pkl`;
    if (!first.includes('/') || !zip.entries.has(pickleName)) {
      throw new Error(`${path}: no ${pickleName} in the archive: not a torch.save file`);
    }
    if (zip.entries.has(`${archive}/constants.pkl`)) {
      throw new Error(`${path}: a TorchScript archive (torch.jit.save), which is not supported; save a state_dict with torch.save`);
    }
    const storages = new Map<string, Storage>();
    const persistentLoad = (pid: unknown): Storage => {
      const { dtype, key, numel } = storageRef(pid, path);
      const name = `${archive}/data/${key}`;
      const cached = storages.get(key);
      if (cached) {
        if (cached.dtype !== dtype) throw new Error(`${path}: storage '${name}' is used as both ${cached.dtype} and ${dtype}`);
        return cached;
      }
      const data = zip.read(name);
      if (data.length !== numel * dtypeSize(dtype)) {
        throw new Error(
          `${path}: storage '${name}' has ${data.length} bytes but ${numel} ${dtype} elements need ${numel * dtypeSize(dtype)}`,
        );
      }
      const storage = new Storage(dtype, data, `${path}: storage '${name}'`);
      storages.set(key, storage);
      return storage;
    };
    return unpickle(zip.read(pickleName), { source: path, persistentLoad, inertObjects: options.inertObjects }).value;
  } finally {
    zip.close();
  }
}

/**
 * The state_dict (parameter and buffer names to tensors) saved by `torch.save(model.state_dict(), path)`,
 * or, with { inertObjects: true }, extracted from a whole model saved by `torch.save(model, path)`.
 */
export function readPth(path: string, options: LoadOptions = {}): StateDict {
  const value = loadPth(path, options);
  if (value instanceof PyObject) return stateDictOf(value, path);
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
 * The state_dict of an nn.Module read as an inert PyObject: each module's parameters, then its
 * persistent buffers, then its submodules', named by path ("layer1.0.conv1.weight") exactly as
 * Module.state_dict() would name them.
 */
export function stateDictOf(module: unknown, file: string): StateDict {
  const out: StateDict = new Map();
  let visits = 0;
  const visit = (m: unknown, prefix: string) => {
    const what = prefix === '' ? 'the object' : `module '${prefix.slice(0, -1)}'`;
    if (prefix.split('.').length > 100) throw new Error(`${file}: modules nest more than 100 deep (a cycle?)`);
    // A submodule shared at several places appears at each, as in PyTorch; a file sharing them
    // level after level would otherwise make this walk exponentially long.
    if (++visits > 100_000) throw new Error(`${file}: more than 100000 modules (shared submodules nested repeatedly?)`);
    const state = m instanceof PyObject ? m.state : undefined;
    const [parameters, buffers, modules] = ['_parameters', '_buffers', '_modules'].map((k) =>
      state instanceof Map ? state.get(k) : undefined,
    );
    if (!(parameters instanceof Map && buffers instanceof Map && modules instanceof Map)) {
      throw new Error(`${file}: ${what} is not a pickled nn.Module (no _parameters, _buffers and _modules)`);
    }
    const nonPersistent = (state as Map<unknown, unknown>).get('_non_persistent_buffers_set');
    const add = (name: string, t: unknown) => {
      if (!isRawTensor(t)) throw new Error(`${file}: '${prefix}${name}' is not a tensor`);
      out.set(prefix + name, t);
    };
    for (const [name, t] of parameters) if (t !== null) add(name, t);
    for (const [name, t] of buffers) {
      if (t !== null && !(nonPersistent instanceof Set && nonPersistent.has(name))) add(name, t);
    }
    for (const [name, child] of modules) if (child !== null) visit(child, `${prefix}${name}.`);
  };
  visit(module, '');
  return out;
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
  writeFileAtomic(path, (append) => writeZip(append, entries));
}

/** Whether a file starts like a zip archive (torch.save's format since PyTorch 1.6). */
export function startsWithZipMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const magic = new Uint8Array(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.every((b, i) => b === [0x50, 0x4b, 0x03, 0x04][i]);
  } finally {
    closeSync(fd);
  }
}
