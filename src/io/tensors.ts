// Between files and tensors: RawTensor (bytes, what the readers produce) <-> Tensor, and
// state dicts read or written by file extension (.safetensors, else PyTorch .pth).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { RawTensor, StateDict } from './raw.js';
import { readPth, writePth } from './pth.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export function rawToTensor(r: RawTensor): Tensor {
  return torch.fromBytes(r.data, r.dtype, r.shape);
}

export function tensorToRaw(t: Tensor): RawTensor {
  const d = t.data();
  return { dtype: t.dtype, shape: [...t.shape], data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

const isSafetensors = (path: string) => path.endsWith('.safetensors');

/** Reads a state dict (a .safetensors file, or a .pth/.pt written by torch.save) into tensors. */
export function readWeights(path: string): Map<string, Tensor> {
  const raw: StateDict = isSafetensors(path) ? readSafetensors(path) : readPth(path);
  return new Map([...raw].map(([k, r]) => [k, rawToTensor(r)]));
}

/** Writes tensors as .safetensors or (any other extension) a .pth PyTorch can load; atomically. */
export function writeWeights(path: string, sd: ReadonlyMap<string, Tensor>, metadata?: Record<string, string>): void {
  const raw: StateDict = new Map([...sd].map(([k, t]) => [k, tensorToRaw(t)]));
  if (isSafetensors(path)) writeSafetensors(path, raw, metadata);
  else writePth(path, raw);
}
