// FractalDB-style images (Kataoka et al., "Pre-training without Natural Images", ACCV 2020): each
// class is an iterated function system of 2–4 random affine maps, kept when its attractor fills
// enough of the image; an image of the class perturbs one parameter of one map by a factor in
// [0.8, 1.2] (FractalDB's intra-class variation), may flip it, and renders the chaos game's
// points fitted to the image, antialiased. A pre-training source made of nothing but arithmetic.
import { type Generator, GeneratedImages, type GeneratedOptions } from './generated.js';
import { hashString, mixSeed, Rng } from '../util/rng.js';

/** An affine map x' = a·x + b·y + e, y' = c·x + d·y + f, and its probability. */
interface Map2 {
  p: number[];
  weight: number;
}

export interface FractalOptions extends GeneratedOptions {
  /** Number of classes (systems). Default 100. */
  classes?: number;
}

const POINTS = 4000;
const BURN_IN = 20;
const OVERSAMPLE = 2;
// A system is kept when its attractor covers at least this fraction of a 32×32 grid.
const MIN_FILL = 0.12;

/** Chaos-game points of a system (the first few dropped); null if they escape. */
function points(maps: Map2[], rng: Rng, n: number): Float64Array | null {
  const total = maps.reduce((s, m) => s + m.weight, 0);
  const out = new Float64Array(2 * n);
  let [x, y] = [0, 0];
  for (let i = -BURN_IN; i < n; i++) {
    let r = rng.float() * total;
    let k = 0;
    while (k < maps.length - 1 && r >= maps[k].weight) r -= maps[k++].weight;
    const [a, b, c, d, e, f] = maps[k].p;
    [x, y] = [a * x + b * y + e, c * x + d * y + f];
    if (!(Math.abs(x) < 1e6 && Math.abs(y) < 1e6)) return null;
    if (i >= 0) [out[2 * i], out[2 * i + 1]] = [x, y];
  }
  return out;
}

/** Plots points fitted into a size×size image with a margin; returns coverage values in [0, 1]. */
function plot(xy: Float64Array, size: number, fillFraction: number, flip: boolean): Float64Array {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < xy.length; i += 2) {
    [x0, x1] = [Math.min(x0, xy[i]), Math.max(x1, xy[i])];
    [y0, y1] = [Math.min(y0, xy[i + 1]), Math.max(y1, xy[i + 1])];
  }
  const big = size * OVERSAMPLE;
  const scale = (fillFraction * big) / Math.max(x1 - x0, y1 - y0, 1e-9);
  const hit = new Uint8Array(big * big);
  for (let i = 0; i < xy.length; i += 2) {
    let u = Math.floor(big / 2 + (xy[i] - (x0 + x1) / 2) * scale);
    const v = Math.floor(big / 2 + (xy[i + 1] - (y0 + y1) / 2) * scale);
    if (flip) u = big - 1 - u;
    if (u >= 0 && v >= 0 && u < big && v < big) hit[v * big + u] = 1;
  }
  const out = new Float64Array(size * size);
  for (let y = 0; y < big; y++) for (let x = 0; x < big; x++) out[Math.floor(y / OVERSAMPLE) * size + Math.floor(x / OVERSAMPLE)] += hit[y * big + x] / OVERSAMPLE ** 2;
  return out;
}

function largestSingularValue([a, b, c, d]: number[]): number {
  const s = a * a + b * b + c * c + d * d;
  const det = a * d - b * c;
  return Math.sqrt((s + Math.sqrt(Math.max(0, s * s - 4 * det * det))) / 2);
}

/** The system of a class: random maps until one fills enough (deterministic per seed and class). */
function system(seed: number, label: number): Map2[] {
  const rng = new Rng(mixSeed(seed, hashString('fractal system'), label));
  for (;;) {
    const maps = Array.from({ length: rng.int(2, 5) }, () => {
      const p = Array.from({ length: 6 }, () => rng.uniform(-1, 1));
      return { p, weight: Math.abs(p[0] * p[3] - p[1] * p[2]) };
    });
    // Contractive maps only (largest singular value below 1), so the chaos game never escapes.
    if (maps.some((m) => largestSingularValue(m.p) >= 1) || maps.every((m) => m.weight < 1e-3)) continue;
    const xy = points(maps, rng, 1000);
    if (xy === null) continue;
    const covered = plot(xy, 16, 1, false).filter((v) => v > 0).length / 256;
    if (covered >= MIN_FILL) return maps;
  }
}

function generator(seed: number, count: number): Generator {
  const systems = Array.from({ length: count }, (_, c) => system(seed, c));
  return {
    kind: 'fractals',
    version: 1,
    classes: Array.from({ length: count }, (_, c) => `fractal-${c}`),
    size: 28,
    settings: { systemsSeed: seed },
    draw: (label, rng, size) => {
      const maps = systems[label].map((m) => ({ ...m, p: m.p.slice() }));
      const which = rng.int(0, maps.length);
      maps[which].p[rng.int(0, 6)] *= rng.uniform(0.8, 1.2);
      maps[which].weight = Math.abs(maps[which].p[0] * maps[which].p[3] - maps[which].p[1] * maps[which].p[2]);
      // A perturbed map may no longer contract: fall back to the class's own system, which does.
      const xy = points(maps, rng, POINTS) ?? (points(systems[label], rng, POINTS) as Float64Array);
      const v = plot(xy, size, rng.uniform(0.7, 0.95), rng.float() < 0.5);
      return Uint8Array.from(v, (t) => Math.round(255 * Math.min(1, t)));
    },
  };
}

/** The fractals dataset: `classes` systems, 100 images per class in each split by default. */
export function fractals(options: FractalOptions): GeneratedImages {
  return new GeneratedImages(generator(options.seed ?? 0, options.classes ?? 100), options);
}
