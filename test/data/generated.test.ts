// Generated datasets (shapes, textures, fractals) and the glyph sets: deterministic from the
// seed, independent of how many images are made, cached, and drawing what their classes say.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { shapes, SHAPE_CLASSES } from '../../src/data/shapes.js';
import { drawTexture, textures, TEXTURE_CLASSES } from '../../src/data/textures.js';
import { fractals } from '../../src/data/fractals.js';
import { FONT_ROOT, FontGlyphs, GLYPH_SETS } from '../../src/data/glyphs.js';
import { Rng } from '../../src/util/rng.js';
import { openTask } from '../../src/train/task.js';
import { tempDir } from './util.js';

const pixelsOf = (ds: { length: number; get(i: number): unknown }, i: number) => (ds.get(i) as { image: { data: Uint8Array } }).image.data;

describe('generated datasets', () => {
  it('are deterministic, cached, split-dependent, and image k does not depend on perClass', () => {
    const [a, b] = [tempDir(), tempDir()];
    const small = shapes({ split: 'train', perClass: 3, cacheDir: a });
    const large = shapes({ split: 'train', perClass: 5, cacheDir: b });
    const again = shapes({ split: 'train', perClass: 3, cacheDir: a });
    const test = shapes({ split: 'test', perClass: 3, cacheDir: a });
    assert.ok(existsSync(small.cacheFile));
    assert.equal(again.cacheFile, small.cacheFile);
    assert.deepEqual(small.classes, SHAPE_CLASSES);
    assert.deepEqual([...small.labels.subarray(0, 7)], [0, 0, 0, 1, 1, 1, 2]);
    for (let c = 0; c < 10; c++) {
      for (let k = 0; k < 3; k++) {
        assert.deepEqual(pixelsOf(small, 3 * c + k), pixelsOf(large, 5 * c + k));
        assert.deepEqual(pixelsOf(again, 3 * c + k), pixelsOf(small, 3 * c + k));
        assert.notDeepEqual(pixelsOf(test, 3 * c + k), pixelsOf(small, 3 * c + k));
      }
    }
    const other = shapes({ split: 'train', perClass: 3, seed: 1, cacheDir: a });
    assert.notDeepEqual(pixelsOf(other, 0), pixelsOf(small, 0));
  });

  it('stripes lie in their class\'s 45° sector of orientations', () => {
    // The structure tensor's dominant gradient direction is the stripes' wave vector.
    const size = 28;
    for (const [label, centre] of [[0, 0], [1, 45], [2, 90], [3, 135]]) {
      for (let k = 0; k < 20; k++) {
        const v = drawTexture(label, new Rng(1000 * label + k), size);
        let [xx, yy, xy] = [0, 0, 0];
        for (let y = 1; y < size - 1; y++) for (let x = 1; x < size - 1; x++) {
          const gx = v[y * size + x + 1] - v[y * size + x - 1];
          const gy = v[(y + 1) * size + x] - v[(y - 1) * size + x];
          [xx, yy, xy] = [xx + gx * gx, yy + gy * gy, xy + gx * gy];
        }
        const angle = ((0.5 * Math.atan2(2 * xy, xx - yy) * 180) / Math.PI + 180) % 180;
        const off = Math.min(Math.abs(angle - centre), 180 - Math.abs(angle - centre));
        // Aliasing at periods near 3.5 pixels and the noise tilt the estimate by a few degrees.
        assert.ok(off <= 22.5 + 10, `${TEXTURE_CLASSES[label]} image ${k}: orientation ${angle.toFixed(1)}°`);
      }
    }
    assert.equal(textures({ split: 'test', perClass: 2, cacheDir: tempDir() }).length, 20);
  });

  it('fractal classes are distinct systems: nearest class mean recognises held-out images', () => {
    const cacheDir = tempDir();
    const train = fractals({ split: 'train', classes: 10, perClass: 10, cacheDir });
    const test = fractals({ split: 'test', classes: 10, perClass: 5, cacheDir });
    const area = 28 * 28;
    const means = Array.from({ length: 10 }, () => new Float64Array(area));
    for (let i = 0; i < train.length; i++) pixelsOf(train, i).forEach((p, j) => (means[train.labels[i]][j] += p / 10));
    let correct = 0;
    for (let i = 0; i < test.length; i++) {
      const x = pixelsOf(test, i);
      const d = means.map((m) => m.reduce((s, v, j) => s + (v - x[j]) ** 2, 0));
      if (d.indexOf(Math.min(...d)) === test.labels[i]) correct++;
    }
    assert.ok(correct >= 0.8 * test.length, `${correct}/${test.length}`);
  });
});

const DEJAVU = join(FONT_ROOT, 'truetype/dejavu/DejaVuSans.ttf');
const SERIF = join(FONT_ROOT, 'truetype/dejavu/DejaVuSerif.ttf');

describe('glyph sets', { skip: !(existsSync(DEJAVU) && existsSync(SERIF)) && 'DejaVu fonts missing' }, () => {
  it('draw non-Latin sets whose glyph names are not the characters (Gamma, uni05D0)', () => {
    const cacheDir = tempDir();
    for (const set of ['greek', 'cyrillic', 'math']) {
      const train = new FontGlyphs({ split: 'train', letters: GLYPH_SETS[set], fonts: [DEJAVU, SERIF], perLetter: 2, cacheDir });
      const test = new FontGlyphs({ split: 'test', letters: GLYPH_SETS[set], fonts: [DEJAVU, SERIF], perLetter: 2, cacheDir });
      assert.deepEqual(train.skippedFonts, [], set);
      assert.deepEqual(train.classes, [...GLYPH_SETS[set]]);
      assert.equal(train.length + test.length, 2 * 10 * 2);
    }
  });

  it('an unknown set is an error that names the sets', () => {
    assert.throws(() => openTask({ data: 'glyphs:klingon', seed: 0 }), /--data glyphs:klingon: unknown glyph set "klingon"; expected one of latin, greek, cyrillic, hebrew, georgian, math, source/);
  });
});
