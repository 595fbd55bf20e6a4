// Loads the native addon on first use, so commands that never touch a tensor
// (`spottune --help`) do not pay libtorch's ~0.45 s load time.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque tensor handle owned by the addon. */
export type Handle = { readonly __handle: unique symbol };

export interface AllocatorStats {
  bytesInUse: number;
  cachedBytes: number;
  peakLargeBytes: number;
}

export interface Native {
  fromBuffer(bytes: ArrayBufferView, shape: number[], dtype: number): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  item(h: Handle): number | boolean;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  storageOffset(h: Handle): number;
  dtype(h: Handle): number;
  device(h: Handle): string;
  isContiguous(h: Handle): boolean;
  storageId(h: Handle): number;
  sameTensor(a: Handle, b: Handle): boolean;
  dispose(h: Handle): void;
  isDisposed(h: Handle): boolean;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, on: boolean): void;
  grad(h: Handle): Handle | undefined;
  setGrad(h: Handle, g: Handle | undefined): void;
  isLeaf(h: Handle): boolean;
  moveTo(h: Handle, device: string): void;
  backward(h: Handle, gradient: Handle | undefined, retainGraph: boolean | undefined): void;
  setGradEnabled(on: boolean): void;
  isGradEnabled(): boolean;
  /** [enabled, dtype code] of autocast for a device type ('cpu' | 'cuda') in this thread. */
  autocastState(device: string): [boolean, number];
  /** Sets autocast for a device type; entering counts nesting, leaving the outermost clears the cast cache. */
  setAutocast(device: string, enabled: boolean, dtype: number, entering: boolean): void;
  manualSeed(seed: number | bigint): void;
  getRngState(device?: string): Handle;
  setRngState(h: Handle, device?: string): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** Whether new tensors' storages are reported to V8 as external memory (off inside tidy). */
  setExternalReporting(on: boolean): void;
  liveTensors(): number;
  cudaDeviceCount(): number;
  version(): string;
  allocatorStats(): AllocatorStats;
  emptyCache(): void;
  lookupOp(name: string, overload: string): [number, string];
  callOp(handle: number, args: unknown[]): unknown;
}

const here = dirname(fileURLToPath(import.meta.url));
// src/torch and dist/torch are both two levels below the package root.
export const addonPath = join(here, '..', '..', 'native', 'build', 'Release', 'spottune_native.node');

let loaded: Native | undefined;

/** Most intra-op threads accepted: far beyond any machine's cores, yet a typo cannot start millions. */
export const MAX_THREADS = 1024;

export function native(): Native {
  if (loaded) return loaded;
  const threads = Number(process.env.SPOTTUNE_THREADS ?? availableParallelism());
  if (threads > MAX_THREADS) throw new Error(`SPOTTUNE_THREADS=${process.env.SPOTTUNE_THREADS} (or --threads): expected at most ${MAX_THREADS} threads`);
  if (!existsSync(addonPath)) {
    // Written by the install step (native/build.mjs --install) when it could not build the addon.
    const notBuilt = join(addonPath, '..', '..', 'not-built.txt');
    const why = existsSync(notBuilt) ? `\nThe install could not build it: ${readFileSync(notBuilt, 'utf8').trim()}` : '';
    throw new Error(`spottune's native addon is not built (looked for ${addonPath}). Install libtorch (Debian: apt-get install libtorch-dev; or pip install torch; or set LIBTORCH=/path/to/libtorch), then: npm rebuild spottune  (npm 12 runs the build only once allowed: npm install-scripts approve spottune; in a clone of spottune: npm run build:native)${why}`);
  }
  try {
    loaded = createRequire(import.meta.url)(addonPath) as Native;
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(`cannot load spottune's native addon ${addonPath}: ${msg}\n` +
      `If libtorch is missing or moved: apt-get install libtorch-dev (or set LIBTORCH, or pip install torch, and rebuild: npm rebuild spottune; in a clone of spottune: npm run build:native)`);
  }
  loaded.setNumThreads(Number.isInteger(threads) && threads > 0 ? threads : availableParallelism());
  return loaded;
}
