// Ten procedural textures with random period, phase, angle, contrast and noise. The four stripe
// classes split the orientations into adjacent 45° sectors and the rings' centre may lie far
// outside the image (then they look like curved stripes), so classes meet at their borders.
import { type Generator, GeneratedImages, type GeneratedOptions, toBytes } from './generated.js';
import type { Rng } from '../util/rng.js';

export const TEXTURE_CLASSES = [
  'stripes-0', 'stripes-45', 'stripes-90', 'stripes-135', 'checkerboard', 'dots', 'rings', 'blobs', 'grain', 'waves',
];

const deg = Math.PI / 180;

/** Values in [0, 1] from f(x, y) at pixel centres. */
function field(size: number, f: (x: number, y: number) => number): Float64Array {
  const v = new Float64Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) v[y * size + x] = f(x + 0.5, y + 0.5);
  return v;
}

/** A smooth 0–1 profile of a wave: soft (sine) to hard (square) edges. */
function wave(t: number, sharpness: number): number {
  return 1 / (1 + Math.exp(-sharpness * Math.sin(t)));
}

/** Bilinear interpolation of random values on a grid of the given spacing (value noise). */
function valueNoise(size: number, spacing: number, rng: Rng): Float64Array {
  const n = Math.ceil(size / spacing) + 2;
  const grid = Array.from({ length: n * n }, () => rng.float());
  const ox = rng.uniform(0, spacing);
  const oy = rng.uniform(0, spacing);
  const smooth = (t: number) => t * t * (3 - 2 * t);
  return field(size, (x, y) => {
    const gx = (x + ox) / spacing;
    const gy = (y + oy) / spacing;
    const [i, j] = [Math.floor(gx), Math.floor(gy)];
    const [u, w] = [smooth(gx - i), smooth(gy - j)];
    const at = (a: number, b: number) => grid[b * n + a];
    return (1 - w) * ((1 - u) * at(i, j) + u * at(i + 1, j)) + w * ((1 - u) * at(i, j + 1) + u * at(i + 1, j + 1));
  });
}

export function drawTexture(label: number, rng: Rng, size: number): Uint8Array {
  const name = TEXTURE_CLASSES[label];
  const period = rng.uniform(3.5, 8);
  const phase = rng.uniform(0, 2 * Math.PI);
  const sharpness = rng.uniform(1, 8);
  const angle = name.startsWith('stripes-') ? (Number(name.slice(8)) + rng.uniform(-22.5, 22.5)) * deg : rng.uniform(0, Math.PI);
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const along = (x: number, y: number) => x * c + y * s;
  const across = (x: number, y: number) => -x * s + y * c;
  let v: Float64Array;
  switch (name) {
    case 'checkerboard':
      v = field(size, (x, y) => 1 / (1 + Math.exp(-2 * sharpness * Math.sin(phase + (2 * Math.PI * along(x, y)) / period) * Math.sin((2 * Math.PI * across(x, y)) / period))));
      break;
    case 'dots': {
      const radius = rng.uniform(0.2, 0.35) * period;
      v = field(size, (x, y) => {
        const [u, w] = [along(x, y) / period + phase, across(x, y) / period];
        const d = Math.hypot(u - Math.round(u), w - Math.round(w)) * period;
        return Math.min(1, Math.max(0, radius + 0.5 - d));
      });
      break;
    }
    case 'rings': {
      const cx = rng.uniform(-0.5, 1.5) * size;
      const cy = rng.uniform(-0.5, 1.5) * size;
      v = field(size, (x, y) => wave(phase + (2 * Math.PI * Math.hypot(x - cx, y - cy)) / period, sharpness));
      break;
    }
    case 'blobs': {
      const noise = valueNoise(size, rng.uniform(4, 9), rng);
      v = noise.map((t) => 1 / (1 + Math.exp(-sharpness * 2 * (t - 0.5))));
      break;
    }
    case 'grain': {
      const white = field(size, () => rng.float());
      const blur = rng.int(0, 2);
      v = blur === 0 ? white : field(size, (x, y) => {
        let sum = 0;
        let n = 0;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
          const [px, py] = [Math.floor(x) + dx, Math.floor(y) + dy];
          if (px >= 0 && py >= 0 && px < size && py < size) (sum += white[py * size + px]), n++;
        }
        return sum / n;
      });
      break;
    }
    case 'waves': {
      const amplitude = rng.uniform(0.3, 0.8) * period;
      const wavelength = rng.uniform(6, 14);
      v = field(size, (x, y) => wave(phase + (2 * Math.PI * (along(x, y) + amplitude * Math.sin((2 * Math.PI * across(x, y)) / wavelength))) / period, sharpness));
      break;
    }
    default: // stripes
      v = field(size, (x, y) => wave(phase + (2 * Math.PI * along(x, y)) / period, sharpness));
  }
  const background = rng.uniform(0, 0.4);
  return toBytes(v, rng, { background, foreground: rng.uniform(background + 0.3, 1), noise: rng.uniform(0, 0.12) });
}

export const TEXTURES: Generator = { kind: 'textures', version: 1, classes: TEXTURE_CLASSES, size: 28, draw: drawTexture };

/** The textures dataset: 100 images per class in each split by default. */
export function textures(options: GeneratedOptions): GeneratedImages {
  return new GeneratedImages(TEXTURES, options);
}
