// A small scanline rasterizer for glyph outlines: curves are flattened to line segments, then
// each pixel's coverage is the fraction of its supersamples inside the outline (non-zero
// winding rule, as TrueType and CFF fonts use). Pure arithmetic, so it is deterministic.

/** Outline commands, as opentype.js's Path.commands gives them (y down). */
export type PathCommand =
  | { type: 'M' | 'L'; x: number; y: number }
  | { type: 'Q'; x1: number; y1: number; x: number; y: number }
  | { type: 'C'; x1: number; y1: number; x2: number; y2: number; x: number; y: number }
  | { type: 'Z' };

/** Line segments, 4 numbers each: x0, y0, x1, y1. */
export type Edges = Float64Array;

/** An affine map [a, b, c, d, e, f]: x' = a·x + c·y + e, y' = b·x + d·y + f (SVG's order). */
export type Affine = [number, number, number, number, number, number];

const QUAD_STEPS = 8;
const CUBIC_STEPS = 12;

/** Flattens a path (M/L/Q/C/Z commands) into line segments; open subpaths are closed. */
export function flatten(commands: PathCommand[]): Edges {
  const out: number[] = [];
  let x = 0;
  let y = 0;
  let startX = 0;
  let startY = 0;
  const lineTo = (nx: number, ny: number): void => {
    if (nx !== x || ny !== y) out.push(x, y, nx, ny);
    x = nx;
    y = ny;
  };
  for (const cmd of commands) {
    switch (cmd.type) {
      case 'M':
        lineTo(startX, startY);
        x = startX = cmd.x;
        y = startY = cmd.y;
        break;
      case 'L':
        lineTo(cmd.x, cmd.y);
        break;
      case 'Q': {
        const [x0, y0] = [x, y];
        for (let i = 1; i <= QUAD_STEPS; i++) {
          const t = i / QUAD_STEPS;
          const u = 1 - t;
          lineTo(u * u * x0 + 2 * u * t * cmd.x1 + t * t * cmd.x, u * u * y0 + 2 * u * t * cmd.y1 + t * t * cmd.y);
        }
        break;
      }
      case 'C': {
        const [x0, y0] = [x, y];
        for (let i = 1; i <= CUBIC_STEPS; i++) {
          const t = i / CUBIC_STEPS;
          const u = 1 - t;
          const [a, b, c, d] = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
          lineTo(a * x0 + b * cmd.x1 + c * cmd.x2 + d * cmd.x, a * y0 + b * cmd.y1 + c * cmd.y2 + d * cmd.y);
        }
        break;
      }
      case 'Z':
        lineTo(startX, startY);
        break;
    }
  }
  lineTo(startX, startY);
  return Float64Array.from(out);
}

/** The bounding box [xMin, yMin, xMax, yMax] of a set of edges. */
export function bounds(edges: Edges): [number, number, number, number] {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < edges.length; i += 2) {
    x0 = Math.min(x0, edges[i]);
    x1 = Math.max(x1, edges[i]);
    y0 = Math.min(y0, edges[i + 1]);
    y1 = Math.max(y1, edges[i + 1]);
  }
  return [x0, y0, x1, y1];
}

export function transform(edges: Edges, [a, b, c, d, e, f]: Affine): Edges {
  const out = new Float64Array(edges.length);
  for (let i = 0; i < edges.length; i += 2) {
    const x = edges[i];
    const y = edges[i + 1];
    out[i] = a * x + c * y + e;
    out[i + 1] = b * x + d * y + f;
  }
  return out;
}

/**
 * Fills edges (in pixel coordinates, y down) into a width × height grey image, 255 = inside,
 * with `supersample`² samples per pixel.
 */
export function rasterize(edges: Edges, width: number, height: number, supersample = 4): Uint8Array {
  const s = supersample;
  const counts = new Uint16Array(width * height);
  const xs: number[] = [];
  const dirs: number[] = [];
  const order: number[] = [];
  for (let row = 0; row < height * s; row++) {
    const sy = (row + 0.5) / s;
    xs.length = 0;
    dirs.length = 0;
    for (let i = 0; i < edges.length; i += 4) {
      const x0 = edges[i];
      const y0 = edges[i + 1];
      const x1 = edges[i + 2];
      const y1 = edges[i + 3];
      // Half-open in y, so a vertex shared by two edges is counted once.
      if ((y0 <= sy && y1 > sy) || (y1 <= sy && y0 > sy)) {
        xs.push(x0 + ((sy - y0) * (x1 - x0)) / (y1 - y0));
        dirs.push(y1 > y0 ? 1 : -1);
      }
    }
    if (xs.length === 0) continue;
    order.length = 0;
    for (let k = 0; k < xs.length; k++) order.push(k);
    order.sort((p, q) => xs[p] - xs[q]);
    const py = Math.floor(row / s) * width;
    let winding = 0;
    for (let k = 0; k < order.length - 1; k++) {
      winding += dirs[order[k]];
      if (winding === 0) continue;
      // Sample columns whose centres (c + 0.5) / s lie in [xa, xb).
      const c0 = Math.max(0, Math.ceil(xs[order[k]] * s - 0.5));
      const c1 = Math.min(width * s, Math.ceil(xs[order[k + 1]] * s - 0.5));
      for (let c = c0; c < c1; c++) counts[py + Math.floor(c / s)]++;
    }
  }
  const out = new Uint8Array(width * height);
  const full = s * s;
  for (let i = 0; i < out.length; i++) out[i] = Math.round((255 * counts[i]) / full);
  return out;
}
