import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import opentype, { type Path } from 'opentype.js';
import { FONT_ROOT, FontGlyphs } from '../../src/data/glyphs.js';
import { flatten, type PathCommand, rasterize } from '../../src/data/raster.js';
import { tempDir } from './util.js';

const REAL = [
  'truetype/dejavu/DejaVuSans.ttf',
  'truetype/dejavu/DejaVuSerif.ttf',
  'truetype/dejavu/DejaVuSansMono.ttf',
  'truetype/liberation2/LiberationSans-Regular.ttf',
].map((f) => join(FONT_ROOT, f));
const NO_LATIN = join(FONT_ROOT, 'truetype/noto/NotoKufiArabic-Regular.ttf');
const DINGBATS = join(FONT_ROOT, 'opentype/urw-base35/D050000L.otf');
const missing = [...REAL, NO_LATIN, DINGBATS].filter((f) => !existsSync(f));

type Shape = [number, number][];

function path(shapes: Shape[]): Path {
  const p = new opentype.Path();
  for (const shape of shapes) {
    shape.forEach(([x, y], k) => (k === 0 ? p.moveTo(x, y) : p.lineTo(x, y)));
    p.close();
  }
  return p;
}

const BOX: Shape[] = [
  [[50, 0], [50, 700], [550, 700], [550, 0]],
  [[100, 50], [500, 50], [500, 650], [100, 650]],
];

/** An OpenType font whose letters A–J have the given outlines (and a box as missing glyph). */
function syntheticFont(file: string, letters: (k: number) => Shape[]): string {
  const glyphs = [new opentype.Glyph({ name: '.notdef', advanceWidth: 600, path: path(BOX) })];
  for (let k = 0; k < 10; k++) {
    const letter = String.fromCharCode(65 + k);
    glyphs.push(new opentype.Glyph({ name: letter, unicode: letter.charCodeAt(0), advanceWidth: 600, path: path(letters(k)) }));
  }
  const font = new opentype.Font({ familyName: 'Test', styleName: 'Regular', unitsPerEm: 1000, ascender: 800, descender: -200, glyphs });
  writeFileSync(file, Buffer.from(font.toArrayBuffer()));
  return file;
}

/** A polygon with k + 3 corners: distinct shapes for distinct letters. */
function polygon(k: number): Shape[] {
  const n = k + 3;
  return [Array.from({ length: n }, (_, i) => [300 + 300 * Math.cos((2 * Math.PI * i) / n + k), 350 + 300 * Math.sin((2 * Math.PI * i) / n + k)] as [number, number])];
}

describe('FontGlyphs', { skip: missing.length > 0 && `font files missing: ${missing.join(', ')}` }, () => {
  const dir = tempDir();
  const sameLook = syntheticFont(join(dir, 'same.otf'), () => polygon(2));
  const boxJ = syntheticFont(join(dir, 'boxj.otf'), (k) => (k === 9 ? BOX : polygon(k)));
  const fonts = [...REAL, NO_LATIN, DINGBATS, sameLook, boxJ];
  const options = { fonts, perLetter: 3, seed: 5 };

  it('splits usable fonts by file and skips fonts that cannot draw the letters', () => {
    const cacheDir = tempDir();
    const train = new FontGlyphs({ ...options, split: 'train', cacheDir });
    const test = new FontGlyphs({ ...options, split: 'test', cacheDir });
    assert.deepEqual([...train.fonts, ...test.fonts].sort(), [...REAL].sort());
    assert.equal(test.fonts.length, 1);
    assert.ok(!train.fonts.some((f) => test.fonts.includes(f)));
    const reasons = Object.fromEntries(train.skippedFonts.map((s) => [s.file, s.reason]));
    assert.deepEqual(reasons, {
      [NO_LATIN]: "no glyph for 'A'",
      [DINGBATS]: "the glyph for 'A' is 'a10', not the letter",
      [sameLook]: "'A' and 'B' look identical",
      [boxJ]: "'J' looks like the missing-glyph box",
    });

    assert.equal(train.length, 3 * 10 * 3);
    assert.deepEqual(train.classes, [...'ABCDEFGHIJ']);
    assert.deepEqual([...train.labels.subarray(0, 7)], [0, 0, 0, 1, 1, 1, 2]);
    assert.deepEqual([train.fontOf[29], train.fontOf[30]], [0, 1]);
    const s = train.get(31);
    assert.ok(s.kind === 'image');
    assert.deepEqual([s.image.width, s.image.height, s.image.channels, s.image.data.length], [28, 28, 1, 784]);
    const ink = s.image.data.reduce((a, v) => a + v, 0) / 784;
    assert.ok(ink > 10 && ink < 200, `mean ink ${ink}`);
    // The three images of a (font, letter) differ: random size, rotation and offset.
    assert.notDeepEqual(train.get(0), train.get(1));
  });

  it('is deterministic from the seed and reuses its cache file', () => {
    const dirA = tempDir();
    const a = new FontGlyphs({ ...options, split: 'train', cacheDir: dirA });
    const b = new FontGlyphs({ ...options, split: 'train', cacheDir: tempDir() });
    assert.deepEqual(a.get(17), b.get(17));
    assert.deepEqual(a.fonts, b.fonts);
    const other = new FontGlyphs({ ...options, seed: 6, split: 'train', cacheDir: tempDir() });
    assert.notDeepEqual(other.get(17), a.get(17));

    // A second dataset reads the cache: changed cached pixels show through.
    assert.ok(statSync(a.cacheFile).isFile());
    const bytes = readFileSync(a.cacheFile);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(a.cacheFile, bytes);
    const lastFont = [...REAL].sort()[REAL.length - 1]; // its last image ends the cache file
    const cached = new FontGlyphs({ ...options, split: a.fonts.includes(lastFont) ? 'train' : 'test', cacheDir: dirA });
    const last = cached.get(cached.length - 1);
    assert.ok(last.kind === 'image');
    assert.equal(last.image.data[783], bytes[bytes.length - 1]);
    // A cache of the wrong size is rebuilt.
    writeFileSync(a.cacheFile, bytes.subarray(0, 100));
    assert.deepEqual(new FontGlyphs({ ...options, split: 'train', cacheDir: dirA }).get(17), b.get(17));
  });
});

describe('rasterize', () => {
  const square = (x0: number, y0: number, x1: number, y1: number, clockwise = true): PathCommand[] => {
    const pts = clockwise ? [[x0, y0], [x1, y0], [x1, y1], [x0, y1]] : [[x0, y0], [x0, y1], [x1, y1], [x1, y0]];
    return [...pts.map(([x, y], k): PathCommand => ({ type: k === 0 ? 'M' : 'L', x, y })), { type: 'Z' }];
  };
  const rows = (img: Uint8Array, w: number): number[][] => Array.from({ length: img.length / w }, (_, r) => [...img.subarray(r * w, (r + 1) * w)]);

  it('fills pixel-aligned squares exactly and half-covered pixels at half', () => {
    assert.deepEqual(rows(rasterize(flatten(square(1, 1, 3, 2)), 4, 3), 4), [[0, 0, 0, 0], [0, 255, 255, 0], [0, 0, 0, 0]]);
    assert.deepEqual(rows(rasterize(flatten(square(0.5, 0, 1.5, 1)), 2, 1), 2), [[128, 128]]);
  });

  it('uses the non-zero winding rule: counter-wound contours are holes', () => {
    const hole = rasterize(flatten([...square(0, 0, 3, 3), ...square(1, 1, 2, 2, false)]), 3, 3);
    assert.deepEqual(rows(hole, 3), [[255, 255, 255], [255, 0, 255], [255, 255, 255]]);
    const nested = rasterize(flatten([...square(0, 0, 3, 3), ...square(1, 1, 2, 2)]), 3, 3);
    assert.equal(nested[4], 255);
  });

  it('flattens curves inside their control hull', () => {
    const bump: PathCommand[] = [{ type: 'M', x: 0, y: 4 }, { type: 'Q', x1: 2, y1: -4, x: 4, y: 4 }, { type: 'Z' }];
    const img = rasterize(flatten(bump), 4, 4);
    assert.equal(img[0], 0); // the curve peaks at y = 0, the corner stays empty
    assert.equal(img[3 * 4 + 1], 255);
  });
});
