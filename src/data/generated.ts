// Grey images made by a seeded generator (shapes, textures, fractals): the dataset class they
// share and their disk cache. Image k of class c in a split comes from its own random stream
// (seed, kind, split, c, k), so it does not depend on how many other images are made; the
// cache is keyed by the generator's settings and only saves time.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkIndex, greyImageAt, type Dataset, type Sample } from './dataset.js';
import { hashString, mixSeed, Rng } from '../util/rng.js';

export type Split = 'train' | 'test';

export interface GeneratedOptions {
  split: Split;
  /** Seeds every image. Default 0. */
  seed?: number;
  /** Images per class in this split. */
  perClass?: number;
  /** Cache folder. Default $XDG_CACHE_HOME/spottune, or ~/.cache/spottune. */
  cacheDir?: string;
}

/** Draws one size×size grey image of a class from its own random stream. */
export type Draw = (label: number, rng: Rng, size: number) => Uint8Array;

export interface Generator {
  /** Names the generator in cache files and random streams. */
  kind: string;
  /** Bump when the drawing changes, so old caches are not reused. */
  version: number;
  classes: string[];
  size: number;
  /** Everything else the images depend on (it goes into the cache key). */
  settings?: unknown;
  draw: Draw;
}

const MAGIC = 'SPTGENIM';

export class GeneratedImages implements Dataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly size: number;
  /** The cache file the images were read from or written to. */
  readonly cacheFile: string;
  private readonly pixels: Uint8Array;

  constructor(g: Generator, options: GeneratedOptions) {
    const seed = options.seed ?? 0;
    const perClass = options.perClass ?? 100;
    if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`${g.kind}: perClass must be a positive integer, got ${perClass}`);
    const key = createHash('sha256')
      .update(JSON.stringify({ kind: g.kind, version: g.version, classes: g.classes, size: g.size, settings: g.settings ?? null, split: options.split, seed, perClass }))
      .digest('hex')
      .slice(0, 16);
    const cacheDir = options.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spottune');
    this.cacheFile = join(cacheDir, `${g.kind}-${key}.bin`);
    this.classes = g.classes;
    this.size = g.size;
    const n = g.classes.length * perClass;
    const area = g.size * g.size;
    this.labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / perClass));
    let pixels = readCache(this.cacheFile, n * area);
    if (pixels === null) {
      pixels = new Uint8Array(n * area);
      const stream = hashString(`${g.kind} ${options.split}`);
      for (let i = 0; i < n; i++) {
        const label = this.labels[i];
        const image = g.draw(label, new Rng(mixSeed(seed, stream, label, i % perClass)), g.size);
        if (image.length !== area) throw new Error(`${g.kind}: drew ${image.length} pixels, expected ${area}`);
        pixels.set(image, i * area);
      }
      writeCache(this.cacheFile, pixels);
    }
    this.pixels = pixels;
  }

  get length(): number {
    return this.labels.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.labels.length);
    return greyImageAt(this.pixels, i, this.size, this.size);
  }
}

// Cache file: MAGIC, then the pixels. A file of the wrong size is remade (it is only a cache).
function readCache(file: string, bytes: number): Uint8Array | null {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return null;
  }
  if (data.length !== MAGIC.length + bytes || data.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
  return new Uint8Array(data.buffer, data.byteOffset + MAGIC.length, bytes);
}

function writeCache(file: string, pixels: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  // Write then rename, so a concurrent reader never sees a partial file.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, Buffer.concat([Buffer.from(MAGIC, 'latin1'), pixels]));
  renameSync(tmp, file);
}

/** A standard normal deviate (Box–Muller), for pixel noise. */
export function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
}

/** Maps values in [0, 1] to bytes, with a background and foreground level and Gaussian noise. */
export function toBytes(v: Float64Array, rng: Rng, o: { background: number; foreground: number; noise: number }): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = o.background + (o.foreground - o.background) * v[i] + o.noise * normal(rng);
    out[i] = Math.round(255 * Math.min(1, Math.max(0, x)));
  }
  return out;
}
