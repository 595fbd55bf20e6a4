// Letters A–J rendered from the system's font files (notMNIST-like, but made here, offline):
// grey size×size images, each glyph scaled to its bounding box with a small random size,
// rotation and offset. Fonts are split by file between train and test (seeded), so test fonts
// are never seen in training. Fonts that cannot draw the letters are skipped: no glyph, a glyph
// named as something else (symbol fonts), a blank glyph, one that looks like the font's
// missing-glyph box, or two letters that look identical. Everything is deterministic from the
// seed, and the result is cached on disk (atomic write), keyed by the options and the font files.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import opentype, { type Font } from 'opentype.js';
import { checkIndex, greyImageAt, type Dataset, type Sample } from './dataset.js';
import { bounds, type Edges, flatten, rasterize, transform } from './raster.js';
import { hashString, mixSeed, Rng } from '../util/rng.js';

export const FONT_ROOT = '/usr/share/fonts';
export const GLYPH_LETTERS = 'ABCDEFGHIJ';

/**
 * Named sets of characters (`--data glyphs:<set>`): ten classes per script for the
 * mini-Decathlon's targets (none shared with Latin capitals), and a broad source set of
 * lowercase letters and punctuation that no target uses.
 */
export const GLYPH_SETS: Readonly<Record<string, string>> = {
  latin: GLYPH_LETTERS,
  greek: 'ΓΔΘΛΞΠΣΦΨΩ',
  cyrillic: 'БГДЖЗИЛФЦШ',
  hebrew: 'אבגדהוזחטי',
  georgian: 'აბგდევზთიკ',
  math: '∑∫√∞≈≠≤∂∇∈',
  source: 'abcdefghijklmnopqrstuvwxyz&@#%$?!§¶*',
};

export interface FontGlyphsOptions {
  split: 'train' | 'test';
  /** Seeds the font split and the augmentation. Default 0. */
  seed?: number;
  /** Images per font and letter. Default 10. */
  perLetter?: number;
  /** Fraction of the usable fonts held out for test. Default 0.25. */
  testFraction?: number;
  /** Image side in pixels. Default 28. */
  size?: number;
  /** The classes, one character each. Default 'ABCDEFGHIJ'. */
  letters?: string;
  /** Font files (.ttf, .otf). Default: every one under /usr/share/fonts. */
  fonts?: string[];
  /** Cache folder. Default $XDG_CACHE_HOME/spottune, or ~/.cache/spottune. */
  cacheDir?: string;
}

// Augmentation ranges: glyph extent as a fraction of the image side, rotation, offset.
const FILL: [number, number] = [0.6, 0.85];
const CANONICAL_FILL = 0.75;
const MAX_ROTATION_DEG = 10;
const MAX_OFFSET = 2 / 28; // of the image side
// Mean absolute difference (0–255) under which two letters "look identical" (distinct letters
// measured here differ by 4 or more: E and F of a thin italic), and minimum ink.
const SAME_LOOK = 1;
const MIN_INK = 0.02 * 255;
// Bump when the rendering changes, so old caches are not reused.
const CACHE_VERSION = 1;
const MAGIC = 'SPTGLYPH';

interface Generated {
  /** Usable fonts, in sorted path order, with their split. */
  fonts: { file: string; split: 'train' | 'test' }[];
  skipped: { file: string; reason: string }[];
  /** For each usable font, each letter, perLetter images of size², in that order. */
  pixels: Uint8Array;
}

export class FontGlyphs implements Dataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly size: number;
  /** This split's font files. */
  readonly fonts: string[];
  /** For each sample, its font (an index into `fonts`). */
  readonly fontOf: Int32Array;
  /** Font files left out (both splits), and why. */
  readonly skippedFonts: { file: string; reason: string }[];
  /** The cache file the images were read from or written to. */
  readonly cacheFile: string;
  private readonly pixels: Uint8Array;

  constructor(options: FontGlyphsOptions) {
    const seed = options.seed ?? 0;
    const perLetter = options.perLetter ?? 10;
    const testFraction = options.testFraction ?? 0.25;
    const size = options.size ?? 28;
    const letters = options.letters ?? GLYPH_LETTERS;
    const fontFiles = (options.fonts ?? fontFilesUnder(FONT_ROOT)).slice().sort();
    if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`FontGlyphs: testFraction must be in (0, 1), got ${testFraction}`);
    if (!Number.isInteger(perLetter) || perLetter < 1) throw new RangeError(`FontGlyphs: perLetter must be a positive integer, got ${perLetter}`);

    const settings = { version: CACHE_VERSION, seed, perLetter, testFraction, size, letters };
    // The key covers the font files' sizes and dates, so reinstalled fonts give a new cache.
    const fingerprint = fontFiles.map((f) => {
      const st = statSync(f);
      return [f, st.size, st.mtimeMs];
    });
    const key = createHash('sha256')
      .update(JSON.stringify({ ...settings, fonts: fingerprint }))
      .digest('hex')
      .slice(0, 16);
    const cacheDir = options.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'spottune');
    this.cacheFile = join(cacheDir, `glyphs-${key}.bin`);
    const perFont = letters.length * perLetter * size * size;
    let generated = readCache(this.cacheFile, perFont);
    if (generated === null) {
      generated = generate(fontFiles, settings);
      writeCache(this.cacheFile, generated);
    }

    this.size = size;
    this.classes = [...letters];
    this.skippedFonts = generated.skipped;
    this.fonts = [];
    const pixels: Uint8Array[] = [];
    for (const [k, font] of generated.fonts.entries()) {
      if (font.split !== options.split) continue;
      this.fonts.push(font.file);
      pixels.push(generated.pixels.subarray(k * perFont, (k + 1) * perFont));
    }
    this.pixels = Buffer.concat(pixels);
    const n = this.fonts.length * letters.length * perLetter;
    this.labels = Int32Array.from({ length: n }, (_, i) => Math.floor(i / perLetter) % letters.length);
    this.fontOf = Int32Array.from({ length: n }, (_, i) => Math.floor(i / (letters.length * perLetter)));
  }

  get length(): number {
    return this.labels.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.labels.length);
    return greyImageAt(this.pixels, i, this.size, this.size);
  }
}

/** Every .ttf and .otf file under a folder, sorted. */
export function fontFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...fontFilesUnder(p));
    else if (/\.(ttf|otf)$/i.test(name)) out.push(p);
  }
  return out.sort();
}

interface Settings {
  seed: number;
  perLetter: number;
  testFraction: number;
  size: number;
  letters: string;
}

function generate(files: string[], settings: Settings): Generated {
  const { seed, perLetter, testFraction, size, letters } = settings;
  const candidates: ({ file: string } & Letters)[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const file of files) {
    const result = loadLetters(file, letters, size);
    if (typeof result === 'string') skipped.push({ file, reason: result });
    else candidates.push({ file, ...result });
  }
  // Symbol fonts may name their glyphs A, B, … yet draw symbols: drop a font none of whose
  // letters is closest to the average look of that same letter over all candidate fonts.
  const usable: ({ file: string } & Letters)[] = [];
  const averages = averageLooks(candidates, letters.length, size);
  for (const font of candidates) {
    const resembling = font.looks.filter((look, k) => nearest(look, averages) === k).length;
    if (resembling === 0) skipped.push({ file: font.file, reason: 'none of its letters looks like the usual letter (a symbol font?)' });
    else usable.push(font);
  }
  skipped.sort((a, b) => (a.file < b.file ? -1 : 1));
  if (usable.length < 2) {
    throw new Error(`FontGlyphs: ${usable.length} usable font(s) among ${files.length} files; a train/test split needs at least 2`);
  }

  const nTest = Math.min(usable.length - 1, Math.max(1, Math.round(testFraction * usable.length)));
  const order = new Rng(mixSeed(seed, hashString('font split'))).permutation(usable.length);
  const isTest = new Set(Array.from(order.subarray(0, nTest)));

  const area = size * size;
  const pixels = new Uint8Array(usable.length * letters.length * perLetter * area);
  let offset = 0;
  for (const { file, outlines } of usable) {
    outlines.forEach((edges, letter) => {
      for (let k = 0; k < perLetter; k++) {
        // A stream per (seed, font file, letter, k): independent of which other fonts exist.
        const rng = new Rng(mixSeed(seed, hashString(file), letter, k));
        pixels.set(render(edges, size, augmentation(rng, size)), offset);
        offset += area;
      }
    });
  }
  return { fonts: usable.map(({ file }, k) => ({ file, split: isTest.has(k) ? 'test' : 'train' })), skipped, pixels };
}

interface Placement {
  fill: number;
  angle: number;
  dx: number;
  dy: number;
}

function augmentation(rng: Rng, size: number): Placement {
  return {
    fill: rng.uniform(FILL[0], FILL[1]),
    angle: (rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * Math.PI) / 180,
    dx: rng.uniform(-MAX_OFFSET, MAX_OFFSET) * size,
    dy: rng.uniform(-MAX_OFFSET, MAX_OFFSET) * size,
  };
}

const CANONICAL: Placement = { fill: CANONICAL_FILL, angle: 0, dx: 0, dy: 0 };

/** Scales the outline's bounding box to fill·size, rotates it about its centre and shifts it. */
function render(edges: Edges, size: number, p: Placement): Uint8Array {
  const [x0, y0, x1, y1] = bounds(edges);
  const scale = (p.fill * size) / Math.max(x1 - x0, y1 - y0);
  const cos = Math.cos(p.angle) * scale;
  const sin = Math.sin(p.angle) * scale;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const tx = size / 2 + p.dx;
  const ty = size / 2 + p.dy;
  return rasterize(transform(edges, [cos, sin, -sin, cos, tx - cos * cx + sin * cy, ty - sin * cx - cos * cy]), size, size);
}

function averageLooks(fonts: Letters[], count: number, size: number): Float64Array[] {
  const averages = Array.from({ length: count }, () => new Float64Array(size * size));
  for (const { looks } of fonts) {
    looks.forEach((look, k) => look.forEach((v, i) => (averages[k][i] += v / fonts.length)));
  }
  return averages;
}

/** The index of the reference closest to `look` (mean absolute difference). */
function nearest(look: Uint8Array, references: Float64Array[]): number {
  const distances = references.map((ref) => meanAbsDiff(look, ref));
  return distances.indexOf(Math.min(...distances));
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array | Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

function mean(a: Uint8Array): number {
  return a.reduce((s, v) => s + v, 0) / a.length;
}

interface Letters {
  /** Outlines in font units, y down, one per letter. */
  outlines: Edges[];
  /** Canonical renderings, one per letter. */
  looks: Uint8Array[];
}

/** The letters of a font file, or why the font cannot draw them. */
function loadLetters(file: string, letters: string, size: number): Letters | string {
  let font: Font;
  try {
    const bytes = readFileSync(file);
    font = opentype.parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  } catch (e) {
    return `cannot parse: ${(e as Error).message}`;
  }
  const outlines: Edges[] = [];
  const looks: Uint8Array[] = [];
  for (const letter of letters) {
    const glyph = font.charToGlyph(letter);
    if (glyph.index === 0) return `no glyph for '${letter}'`;
    // Symbol fonts map Latin letters to other drawings, named after them; other characters'
    // glyph names vary (Gamma, uni0393, afii10018), so only the look test below checks them.
    const unicodeName = `uni${letter.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    if (/[A-Za-z]/.test(letter) && glyph.name && glyph.name !== letter && glyph.name !== unicodeName) return `the glyph for '${letter}' is '${glyph.name}', not the letter`;
    const edges = flatten(glyph.getPath(0, 0, font.unitsPerEm).commands);
    if (edges.length === 0) return `the glyph for '${letter}' is empty`;
    const look = render(edges, size, CANONICAL);
    if (mean(look) < MIN_INK) return `the glyph for '${letter}' is blank`;
    outlines.push(edges);
    looks.push(look);
  }
  const notdef = flatten(font.glyphs.get(0).getPath(0, 0, font.unitsPerEm).commands);
  if (notdef.length > 0) {
    const box = render(notdef, size, CANONICAL);
    const k = looks.findIndex((look) => meanAbsDiff(look, box) < SAME_LOOK);
    if (k >= 0) return `'${letters[k]}' looks like the missing-glyph box`;
  }
  for (let a = 0; a < looks.length; a++) {
    for (let b = a + 1; b < looks.length; b++) {
      if (meanAbsDiff(looks[a], looks[b]) < SAME_LOOK) return `'${letters[a]}' and '${letters[b]}' look identical`;
    }
  }
  return { outlines, looks };
}

// Cache file: MAGIC, uint32 LE length of a JSON header, the header, then the pixels.

function readCache(file: string, perFont: number): Generated | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return null;
  }
  // A cache that does not parse or has the wrong size is rebuilt (it is only a cache).
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) return null;
  const headerLength = bytes.readUInt32LE(8);
  let header: Omit<Generated, 'pixels'>;
  try {
    header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as Omit<Generated, 'pixels'>;
  } catch {
    return null;
  }
  const pixels = bytes.subarray(12 + headerLength);
  if (!Array.isArray(header.fonts) || pixels.length !== header.fonts.length * perFont) return null;
  return { ...header, pixels };
}

function writeCache(file: string, generated: Generated): void {
  const header = Buffer.from(JSON.stringify({ fonts: generated.fonts, skipped: generated.skipped }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  mkdirSync(dirname(file), { recursive: true });
  // Write then rename, so a concurrent reader never sees a partial file.
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, Buffer.concat([Buffer.from(MAGIC, 'latin1'), length, header, generated.pixels]));
  renameSync(tmp, file);
}
