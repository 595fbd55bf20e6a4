// Ten geometric shapes drawn at random: size, rotation, stretch, position, filled or hollow,
// grey levels, pixel noise and a few stray dots. Hollow outlines and small sizes make
// pentagon, hexagon and circle (or square and L) easy to confuse at 28 pixels, so ten labelled
// images per class stay far from the ceiling.
import { type Generator, GeneratedImages, type GeneratedOptions, toBytes } from './generated.js';
import { type Edges, rasterize } from './raster.js';
import type { Rng } from '../util/rng.js';

type Point = [number, number];

function regular(n: number, radius = 1, phase = -Math.PI / 2): Point[] {
  return Array.from({ length: n }, (_, i) => [radius * Math.cos(phase + (2 * Math.PI * i) / n), radius * Math.sin(phase + (2 * Math.PI * i) / n)] as Point);
}

function star(points: number, inner: number): Point[] {
  return regular(2 * points).map(([x, y], i) => (i % 2 ? [x * inner, y * inner] : [x, y]) as Point);
}

/** Outlines in unit coordinates (about [-1, 1]²); the crescent is drawn separately. */
const OUTLINES: Record<string, Point[]> = {
  triangle: regular(3),
  square: regular(4, 1, Math.PI / 4),
  pentagon: regular(5),
  hexagon: regular(6),
  circle: regular(48),
  star: star(5, 0.45),
  cross: [[-0.3, -1], [0.3, -1], [0.3, -0.3], [1, -0.3], [1, 0.3], [0.3, 0.3], [0.3, 1], [-0.3, 1], [-0.3, 0.3], [-1, 0.3], [-1, -0.3], [-0.3, -0.3]],
  arrow: [[-1, -0.25], [0.2, -0.25], [0.2, -0.65], [1, 0], [0.2, 0.65], [0.2, 0.25], [-1, 0.25]],
  'L-shape': [[-0.6, -1], [-0.1, -1], [-0.1, 0.5], [0.6, 0.5], [0.6, 1], [-0.6, 1]],
};

export const SHAPE_CLASSES = [...Object.keys(OUTLINES), 'crescent'];

function edges(points: Point[]): number[] {
  const out: number[] = [];
  points.forEach(([x, y], i) => out.push(x, y, ...points[(i + 1) % points.length]));
  return out;
}

/** The shape, placed: unit coordinates → pixels (stretch, rotation, scale, offset). */
function place(points: Point[], m: { scale: number; stretch: number; angle: number; cx: number; cy: number }): Point[] {
  const [c, s] = [Math.cos(m.angle), Math.sin(m.angle)];
  return points.map(([x, y]) => [m.cx + m.scale * (c * x * m.stretch - s * y), m.cy + m.scale * (s * x * m.stretch + c * y)] as Point);
}

function fill(points: Point[][], size: number): Float64Array {
  return Float64Array.from(rasterize(Float64Array.from(points.flatMap(edges)) as Edges, size, size), (v) => v / 255);
}

export function drawShape(label: number, rng: Rng, size: number): Uint8Array {
  const name = SHAPE_CLASSES[label];
  const m = {
    scale: size * rng.uniform(0.22, 0.42),
    stretch: rng.uniform(0.8, 1.2),
    angle: rng.uniform(0, 2 * Math.PI),
    cx: size / 2 + rng.uniform(-0.12, 0.12) * size,
    cy: size / 2 + rng.uniform(-0.12, 0.12) * size,
  };
  let v: Float64Array;
  if (name === 'crescent') {
    const disc = fill([place(regular(48), m)], size);
    const shift = rng.uniform(0.35, 0.6);
    const bite = fill([place(regular(48).map(([x, y]) => [x + shift, y] as Point), m)], size);
    v = disc.map((a, i) => Math.max(0, a - bite[i]));
  } else {
    const outer = place(OUTLINES[name], m);
    // Hollow: the same outline shrunk toward the centre and reversed (non-zero winding cuts it out).
    const hollow = rng.float() < 0.5;
    const inner = hollow ? place(OUTLINES[name], { ...m, scale: m.scale * rng.uniform(0.55, 0.75) }).reverse() : [];
    v = fill(hollow ? [outer, inner] : [outer], size);
  }
  for (let k = rng.int(0, 4); k > 0; k--) v[rng.int(0, size * size)] = 1;
  const background = rng.uniform(0, 0.35);
  return toBytes(v, rng, { background, foreground: rng.uniform(background + 0.35, 1), noise: rng.uniform(0, 0.08) });
}

export const SHAPES: Generator = { kind: 'shapes', version: 1, classes: SHAPE_CLASSES, size: 28, draw: drawShape };

/** The shapes dataset: 100 images per class in each split by default. */
export function shapes(options: GeneratedOptions): GeneratedImages {
  return new GeneratedImages(SHAPES, options);
}
