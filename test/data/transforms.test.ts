import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Image } from '../../src/data/dataset.js';
import { imageSize } from '../../src/data/image_size.js';
import { Rng } from '../../src/util/rng.js';
import {
  BadImageError,
  centerCrop,
  compose,
  convertChannels,
  crop,
  decode,
  hflip,
  randomCrop,
  randomHorizontalFlip,
  randomResizedCrop,
  resize,
  toChw,
} from '../../src/data/transforms.js';
import { pixels, tempDir, writeImage } from './util.js';

/** A grey image whose pixel at (x, y) is y·width + x + 1 (so 0 marks padding). */
function counting(width: number, height: number): Image {
  return { data: Uint8Array.from({ length: width * height }, (_, i) => i + 1), width, height, channels: 1 };
}

describe('decode', () => {
  it('decodes JPEG, PNG and WebP files to RGB or grey', async () => {
    const dir = tempDir();
    for (const ext of ['jpg', 'png', 'webp']) {
      const file = join(dir, `a.${ext}`);
      await writeImage(file, 10, 6, 1);
      const rgb = await decode({ kind: 'file', path: file }, 3);
      assert.deepEqual([rgb.width, rgb.height, rgb.channels, rgb.data.length], [10, 6, 3, 180]);
      const grey = await decode({ kind: 'file', path: file }, 1);
      assert.deepEqual([grey.channels, grey.data.length], [1, 60]);
    }
    // PNG is lossless: pixels come back exactly.
    const rgb = await decode({ kind: 'file', path: join(dir, 'a.png') }, 3);
    assert.deepEqual(Uint8Array.from(rgb.data), pixels(10, 6, 1).data);
  });

  it('turns a grey file into RGB by replication and drops alpha', async () => {
    const dir = tempDir();
    await writeImage(join(dir, 'g.png'), 5, 4, 2, 1);
    const rgb = await decode({ kind: 'file', path: join(dir, 'g.png') }, 3);
    const grey = pixels(5, 4, 2, 1).data;
    assert.equal(rgb.channels, 3);
    for (let i = 0; i < 20; i++) assert.deepEqual([...rgb.data.subarray(3 * i, 3 * i + 3)], [grey[i], grey[i], grey[i]]);
    const sharp = (await import('sharp')).default;
    await sharp({ create: { width: 3, height: 2, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .png()
      .toFile(join(dir, 'rgba.png'));
    const noAlpha = await decode({ kind: 'file', path: join(dir, 'rgba.png') }, 3);
    assert.deepEqual([...noAlpha.data.subarray(0, 3)], [10, 20, 30]);
  });

  it('converts in-memory pixels between grey and RGB', () => {
    const grey: Image = { data: Uint8Array.from([0, 100]), width: 2, height: 1, channels: 1 };
    assert.deepEqual([...convertChannels(grey, 3).data], [0, 0, 0, 100, 100, 100]);
    const rgb: Image = { data: Uint8Array.from([255, 0, 0, 10, 20, 30]), width: 2, height: 1, channels: 3 };
    assert.deepEqual([...convertChannels(rgb, 1).data], [76, 18]); // PIL's L = (299 R + 587 G + 114 B) / 1000
    assert.equal(convertChannels(rgb, 3), rgb);
  });

  it('names the file of a corrupt or truncated image', async () => {
    const dir = tempDir();
    const corrupt = join(dir, 'corrupt.jpg');
    writeFileSync(corrupt, 'this is not a JPEG');
    await assert.rejects(decode({ kind: 'file', path: corrupt }, 3), (e: Error) => e instanceof BadImageError && e.file === corrupt && e.message.includes(corrupt));
    const good = join(dir, 'good.jpg');
    await writeImage(good, 64, 48);
    const bytes = await readFile(good);
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(decode({ kind: 'file', path: truncated }, 3), (e: Error) => e instanceof BadImageError && e.message.includes(truncated));
    await assert.rejects(decode({ kind: 'file', path: join(dir, 'missing.png') }, 3), BadImageError);
  });
});

describe('geometric transforms', () => {
  const rng = new Rng(0);

  it('resize sets the shorter side and truncates the longer like torchvision', async () => {
    const img = pixels(500, 375);
    const out = await resize(224)(img, rng);
    assert.deepEqual([out.width, out.height, out.channels], [298, 224, 3]);
    const tall = await resize(10)(pixels(20, 45), rng);
    assert.deepEqual([tall.width, tall.height], [10, 22]);
    const exact = await resize([7, 9])(pixels(20, 45), rng);
    assert.deepEqual([exact.width, exact.height], [9, 7]);
    const already = pixels(45, 60);
    assert.equal(await resize(45)(already, rng), already);
    const grey = await resize(4)(counting(8, 8), rng);
    assert.deepEqual([grey.width, grey.height, grey.channels, grey.data.length], [4, 4, 1, 16]);
  });

  it('centerCrop rounds half to even and pads small images with zeros', async () => {
    const img = counting(5, 4);
    const c = await centerCrop([2, 3])(img, rng);
    // top = round((4 − 2) / 2) = 1, left = round((5 − 3) / 2) = 1
    assert.deepEqual([...c.data], [7, 8, 9, 12, 13, 14]);
    const odd = await centerCrop([1, 2])(img, rng);
    // top = round(1.5) = 2, left = round(1.5) = 2
    assert.deepEqual([...odd.data], [13, 14]);
    const padded = await centerCrop(4)(counting(2, 2), rng);
    assert.deepEqual([...padded.data], [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
  });

  it('randomCrop with padding shows a shifted window with zero borders', async () => {
    const img = counting(6, 6);
    const seen = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const out = await randomCrop(6, { padding: 2 })(img, new Rng(seed));
      assert.deepEqual([out.width, out.height], [6, 6]);
      // Find the shift from a surviving pixel; every pixel must agree with it.
      const k = out.data.findIndex((v) => v > 0);
      const v = out.data[k] - 1;
      const dy = Math.floor(v / 6) - Math.floor(k / 6);
      const dx = (v % 6) - (k % 6);
      assert.ok(Math.abs(dx) <= 2 && Math.abs(dy) <= 2);
      assert.deepEqual(out, crop(img, dy, dx, 6, 6));
      seen.add(`${dx},${dy}`);
    }
    assert.ok(seen.size > 10, 'shifts vary with the seed');
    assert.throws(() => randomCrop(9)(img, rng), /larger than the padded image/);
  });

  it('randomResizedCrop is seeded, sized, and falls back to a ratio-clamped centre crop', async () => {
    const img = pixels(50, 40);
    const a = await randomResizedCrop(16)(img, new Rng(5));
    const b = await randomResizedCrop(16)(img, new Rng(5));
    const c = await randomResizedCrop(16)(img, new Rng(6));
    assert.deepEqual([a.width, a.height, a.channels], [16, 16, 3]);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    // scale > 1 never fits: 100×20 (ratio 5) → h = 20, w = round(20 · 4/3) = 27, left = (100 − 27) // 2 = 36.
    const wide = pixels(100, 20);
    const fallback = await randomResizedCrop(8, { scale: [2, 3] })(wide, new Rng(1));
    assert.deepEqual(fallback, await resize([8, 8])(crop(wide, 0, 36, 20, 27), rng));
  });

  it('flips left–right, randomly with probability p', async () => {
    const img: Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), width: 2, height: 2, channels: 3 };
    assert.deepEqual([...hflip(img).data], [4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
    assert.equal(await randomHorizontalFlip(0)(img, rng), img);
    assert.deepEqual(await randomHorizontalFlip(1)(img, rng), hflip(img));
  });
});

describe('toChw and compose', () => {
  it('normalizes per channel into CHW order', () => {
    const img: Image = { data: Uint8Array.from([0, 51, 255, 255, 102, 0]), width: 2, height: 1, channels: 3 };
    const t = toChw(img, [0.5, 0, 0], [0.5, 1, 2]);
    assert.deepEqual([t.channels, t.height, t.width], [3, 1, 2]);
    const expected = [-1, 1, 0.2, 0.4, 0.5, 0];
    t.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `${i}: ${v} vs ${expected[i]}`));
    assert.throws(() => toChw(img, [0, 0], [1]), /mean has 2 values for a 3-channel image/);
  });

  it('gives the same augmentation for the same seed, whatever the order of async work', async () => {
    const dir = tempDir();
    const files = await Promise.all(
      Array.from({ length: 6 }, async (_, k) => {
        const file = join(dir, `${k}.jpg`);
        await writeImage(file, 60 + 7 * k, 45, k);
        return file;
      }),
    );
    const pipeline = compose({ steps: [randomResizedCrop(24), randomHorizontalFlip()], mean: [0.5], std: [0.25] });
    const run = (k: number): Promise<Float32Array> => pipeline({ kind: 'file', path: files[k] }, new Rng(1000 + k)).then((t) => t.data);
    const forward = await Promise.all([0, 1, 2, 3, 4, 5].map(run));
    const backward: Float32Array[] = [];
    for (const k of [5, 4, 3, 2, 1, 0]) backward[k] = await run(k);
    assert.deepEqual(forward, backward);
    assert.equal(forward[0].length, 3 * 24 * 24);
    assert.notDeepEqual(await pipeline({ kind: 'file', path: files[0] }, new Rng(7)).then((t) => t.data), forward[0]);
  });
});

describe('decoding with the first crop-and-resize fused in', () => {
  it('reads the size from JPEG, PNG and WebP headers', async () => {
    const dir = tempDir();
    const sharp = (await import('sharp')).default;
    const img = pixels(37, 23);
    const raw = { raw: { width: 37, height: 23, channels: 3 as const } };
    const files: [string, Promise<unknown>][] = [
      ['a.jpg', sharp(img.data, raw).jpeg().toFile(join(dir, 'a.jpg'))],
      ['p.jpg', sharp(img.data, raw).jpeg({ progressive: true }).withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(300) } } }).toFile(join(dir, 'p.jpg'))],
      ['a.png', sharp(img.data, raw).png().toFile(join(dir, 'a.png'))],
      ['lossy.webp', sharp(img.data, raw).webp().toFile(join(dir, 'lossy.webp'))],
      ['lossless.webp', sharp(img.data, raw).webp({ lossless: true }).toFile(join(dir, 'lossless.webp'))],
      ['alpha.webp', sharp(img.data, raw).ensureAlpha(0.5).webp().toFile(join(dir, 'alpha.webp'))],
    ];
    for (const [name, written] of files) {
      await written;
      assert.deepEqual(imageSize(await readFile(join(dir, name))), { width: 37, height: 23, colour: 'rgb' }, name);
    }
    assert.equal(imageSize(Buffer.from('not an image at all, really not')), null);
    assert.equal(imageSize(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 4, 0, 0, 0, 0, 0, 0])), null);
  });

  it('gives the same pixels as decoding first, for each format and step', async () => {
    const dir = tempDir();
    const steps = [randomResizedCrop(20), resize(15), resize([9, 30]), centerCrop([10, 12]), centerCrop(60)];
    for (const ext of ['jpg', 'png', 'webp']) {
      const file = join(dir, `x.${ext}`);
      await writeImage(file, 48, 33, 4);
      for (const [k, step] of steps.entries()) {
        for (const channels of [1, 3] as const) {
          const fused = await compose({ channels, steps: [step] })({ kind: 'file', path: file }, new Rng(k));
          const img = await decode({ kind: 'file', path: file }, channels);
          const plain = toChw(await step(img, new Rng(k)), [0], [1]);
          assert.deepEqual(fused, plain, `${ext}, step ${k}, ${channels} channels`);
        }
      }
    }
  });

  it('names the file when the header is fine but the data is not', async () => {
    const dir = tempDir();
    const good = join(dir, 'good.jpg');
    await writeImage(good, 64, 48);
    const truncated = join(dir, 'truncated.jpg');
    writeFileSync(truncated, (await readFile(good)).subarray(0, 400));
    assert.deepEqual(imageSize(await readFile(truncated)), { width: 64, height: 48, colour: 'rgb' });
    const pipeline = compose({ steps: [randomResizedCrop(16)] });
    await assert.rejects(pipeline({ kind: 'file', path: truncated }, new Rng(0)), (e: Error) => e instanceof BadImageError && e.message.includes(truncated));
    await assert.rejects(pipeline({ kind: 'file', path: join(dir, 'missing.jpg') }, new Rng(0)), (e: Error) => e instanceof BadImageError && e.message.includes('missing.jpg'));
  });
});
