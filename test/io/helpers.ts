// Shared by the weights I/O tests: fixture paths, the typed JSON encoding that
// scripts/fixtures_weights.py writes its expectations in, and running that script.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { isRawTensor } from '../../src/io/raw.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = join(ROOT, 'fixtures', 'weights');
export const SCRIPT = join(ROOT, 'scripts', 'fixtures_weights.py');
// Debian's Python, which has torch; the python3 on PATH may not.
export const PYTHON = '/usr/bin/python3';

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

export function expected(name: string): unknown {
  return JSON.parse(readFileSync(fixture(`${name}.expected.json`), 'utf8'));
}

/** A fresh directory, removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-io-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let torchReason: string | false | undefined;
/** Why PyTorch cannot be used here, or false if it can. */
export function noTorch(): string | false {
  if (torchReason === undefined) {
    if (!existsSync(PYTHON)) {
      torchReason = `${PYTHON} not found`;
    } else {
      const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
      torchReason = r.status === 0 ? false : `${PYTHON} cannot import torch and torchvision`;
    }
  }
  return torchReason;
}

/** Runs scripts/fixtures_weights.py; fails the test with its output if it exits non-zero. */
export function runScript(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`fixtures_weights.py ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The encoding of scripts/fixtures_weights.py `encode`, for a value as loadPth returns it. */
export function encode(v: unknown, digest = false): unknown {
  if (isRawTensor(v)) {
    const bytes = digest ? { sha256: sha256(v.data) } : { hex: hex(v.data) };
    return { tensor: { dtype: v.dtype, shape: v.shape, ...bytes } };
  }
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [encode(k, digest), encode(x, digest)]) };
  if (Array.isArray(v)) return { [Object.isFrozen(v) ? 'tuple' : 'list']: v.map((x) => encode(x, digest)) };
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return { int: String(v) };
  if (typeof v === 'number') return { float: Number.isFinite(v) ? v : String(v).replace('Infinity', 'inf').replace('NaN', 'nan') };
  if (typeof v === 'string') return { str: v };
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  throw new Error(`cannot encode ${String(v)}`);
}
