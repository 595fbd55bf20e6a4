// Image files read as PIL reads them (Debian's python3-pil is the reference, on files generated
// here: by PIL, by sharp, or byte by byte), only regular files opened, and sizes bounded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ImageFolder } from '../../src/data/image_folder.js';
import { BadImageError, centerCrop, compose, convertChannels, decode, resize } from '../../src/data/transforms.js';
import { bmpFile } from '../bmp.js';
import { pngFile } from '../png.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from './util.js';

const PYTHON = '/usr/bin/python3';

/** PIL's Image.open(path).convert(mode) for each [path, mode]. */
function pil(files: [string, 'RGB' | 'L'][]): ({ width: number; height: number; data: Buffer } | { error: string })[] {
  const r = spawnSync(PYTHON, [join(import.meta.dirname, 'pil_reference.py')], { input: JSON.stringify(files), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { width: number; height: number; data: string; error?: string }[]).map((o) => (o.error ? { error: o.error } : { ...o, data: Buffer.from(o.data, 'base64') }));
}

function python(code: string): void {
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** Seeded bytes. */
function noise(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.int(0, 256));
}

describe('images as PIL reads them', () => {
  const dir = tempDir();
  const file = (name: string) => join(dir, name);

  it('every kind of file: the same 8-bit pixels as PIL, as RGB and as grey', async () => {
    const rgb = noise(9 * 7 * 3, 1);
    rgb.set([255, 0, 0], 0); // red: PIL's grey is 76 (libvips' own conversion gives 127)
    writeFileSync(file('rgb.png'), pngFile(9, 7, 2, 8, rgb));
    writeFileSync(file('rgba.png'), pngFile(9, 7, 6, 8, noise(9 * 7 * 4, 2)));
    writeFileSync(file('grey-alpha.png'), pngFile(9, 7, 4, 8, noise(9 * 7 * 2, 3)));
    const u16 = (seed: number, n: number, small = false) => {
      const v = noise(2 * n, seed);
      if (small) for (let i = 0; i < n; i += 2) v[2 * i] = 0; // some values below 256: PIL's clip shows
      return v;
    };
    writeFileSync(file('grey16.png'), pngFile(9, 7, 0, 16, u16(4, 63, true)));
    writeFileSync(file('rgb16.png'), pngFile(9, 7, 2, 16, u16(5, 189)));
    await sharp(Buffer.from(noise(16 * 12 * 3, 6)), { raw: { width: 16, height: 12, channels: 3 } }).jpeg({ quality: 90 }).toFile(file('rgb.jpg'));
    await sharp(Buffer.from(noise(16 * 12, 7)), { raw: { width: 16, height: 12, channels: 1 } }).jpeg({ quality: 90 }).toFile(file('grey.jpg'));
    await sharp(Buffer.from(noise(16 * 12 * 3, 14)), { raw: { width: 16, height: 12, channels: 3 } }).tiff({ compression: 'lzw' }).toFile(file('rgb.tif'));
    await sharp(Buffer.from(noise(16 * 12, 15)), { raw: { width: 16, height: 12, channels: 1 } }).tiff().toFile(file('grey.tiff'));
    await sharp(Buffer.from(noise(16 * 12 * 3, 16)), { raw: { width: 16, height: 12, channels: 3 } }).webp({ lossless: true }).toFile(file('rgb.webp'));
    // An embedded Display P3 profile: PIL ignores it, so must we (sharp would convert to sRGB).
    await sharp(Buffer.from(noise(16 * 12 * 3, 17)), { raw: { width: 16, height: 12, channels: 3 } }).withIccProfile('p3').png().toFile(file('p3.png'));
    await sharp(Buffer.from(noise(16 * 12 * 3, 18)), { raw: { width: 16, height: 12, channels: 3 } }).withIccProfile('p3').jpeg({ quality: 90 }).toFile(file('p3.jpg'));
    writeFileSync(file('bottom-up-24.bmp'), bmpFile(7, 5, 24, (n) => noise(n, 8)));
    writeFileSync(file('top-down-4.bmp'), bmpFile(7, 5, 4, (n) => noise(n, 9), { topDown: true }));
    writeFileSync(file('plain.ppm'), `P3\n# a comment\n3 2\n255\n${Array.from(noise(18, 10)).join(' ')}\n`);
    writeFileSync(file('plain.pgm'), `P2 3 2 255 ${Array.from(noise(6, 11)).join('\n')}`);
    writeFileSync(file('plain.pbm'), 'P1\n5 2\n1 0 1 1 0\n00110\n');
    // Written by PIL itself: CMYK JPEG (Adobe, inverted), palette/bitmap/32-bit BMPs, raw PPM/PGM/PBM.
    python(`
from PIL import Image
import random
random.seed(12)
def img(mode, n):
    im = Image.new(mode, (11, 6))
    im.putdata([tuple(random.randrange(256) for _ in range(n)) if n > 1 else random.randrange(256) for _ in range(66)])
    return im
img('CMYK', 4).save('${file('cmyk.jpg')}', quality=95)
img('RGB', 3).convert('P', palette=Image.ADAPTIVE).save('${file('palette.bmp')}')
img('L', 1).convert('1').save('${file('bitmap.bmp')}')
img('RGBA', 4).save('${file('rgba32.bmp')}')
img('L', 1).save('${file('grey8.bmp')}')
img('RGB', 3).save('${file('raw.ppm')}')
img('L', 1).save('${file('raw.pgm')}')
img('L', 1).convert('1').save('${file('raw.pbm')}')
`);
    const names = ['rgb.png', 'rgba.png', 'grey-alpha.png', 'grey16.png', 'rgb16.png', 'rgb.jpg', 'grey.jpg', 'cmyk.jpg', 'rgb.tif', 'grey.tiff', 'rgb.webp', 'p3.png', 'p3.jpg', 'bottom-up-24.bmp', 'top-down-4.bmp',
      'palette.bmp', 'bitmap.bmp', 'rgba32.bmp', 'grey8.bmp', 'plain.ppm', 'plain.pgm', 'plain.pbm', 'raw.ppm', 'raw.pgm', 'raw.pbm'];
    const modes = [['RGB', 3], ['L', 1]] as const;
    const expected = pil(names.flatMap((n) => modes.map(([mode]) => [file(n), mode] as [string, 'RGB' | 'L'])));
    for (const [i, name] of names.entries()) {
      for (const [k, [mode, channels]] of modes.entries()) {
        const want = expected[2 * i + k];
        assert.ok(!('error' in want), `PIL reads ${name}: ${'error' in want ? want.error : ''}`);
        const got = await decode({ kind: 'file', path: file(name) }, channels);
        assert.deepEqual([got.width, got.height, got.channels], [want.width, want.height, channels], `${name} as ${mode}`);
        assert.ok(Buffer.from(got.data).equals(want.data), `${name} as ${mode}: pixels differ from PIL's`);
      }
    }
    assert.equal((await decode({ kind: 'file', path: file('rgb.png') }, 1)).data[0], 76, 'red → 76');
  });

  it('in-memory colour → grey: PIL\'s fixed-point luma for every colour tried', () => {
    const n = 4096;
    const rgb = noise(3 * n, 13);
    rgb.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 1, 1, 1], 0);
    const raw = file('colours.rgb');
    writeFileSync(raw, rgb);
    python(`
from PIL import Image
data = open('${raw}', 'rb').read()
Image.frombytes('RGB', (${n}, 1), data).convert('L').save('${file('colours-L.png')}')
`);
    const [want] = pil([[file('colours-L.png'), 'L']]);
    assert.ok(!('error' in want));
    const got = convertChannels({ data: rgb, width: n, height: 1, channels: 3 }, 1);
    assert.ok(Buffer.from(got.data).equals(want.data));
    assert.deepEqual([...got.data.subarray(0, 5)], [76, 150, 29, 255, 1]);
  });

  it('files PIL cannot read the same way are refused by name, not decoded differently', async () => {
    writeFileSync(file('deep.pgm'), 'P5 2 1 65535\n\x00\x01\x00\x02');
    writeFileSync(file('rle.bmp'), bmpFile(4, 2, 24, (n) => noise(n, 1), { compression: 1 })); // BI_RLE8
    await assert.rejects(decode({ kind: 'file', path: file('deep.pgm') }, 1), { message: `cannot decode image ${file('deep.pgm')}: PNM: maxval 65535 is not supported (only 8-bit files, maxval 255)` });
    await assert.rejects(decode({ kind: 'file', path: file('rle.bmp') }, 3), { message: `cannot decode image ${file('rle.bmp')}: BMP: compression 1 with 24 bits per pixel is not supported (only uncompressed 1/4/8/24/32-bit files)` });
  });
});

describe('only regular files', () => {
  const dir = tempDir();

  it('a FIFO, a device, a dangling link and a link loop named *.jpg: refused at once, each named with why', async () => {
    assert.equal(spawnSync('mkfifo', [join(dir, 'fifo.jpg')]).status, 0);
    symlinkSync('/dev/zero', join(dir, 'zero.png'));
    symlinkSync(join(dir, 'nowhere.jpg'), join(dir, 'dangling.jpg'));
    symlinkSync(join(dir, 'loop-b.jpg'), join(dir, 'loop-a.jpg'));
    symlinkSync(join(dir, 'loop-a.jpg'), join(dir, 'loop-b.jpg'));
    mkdirSync(join(dir, 'folder.jpg'));
    writeFileSync(join(dir, 'empty.jpg'), '');
    const cases: [string, string][] = [
      ['fifo.jpg', 'a FIFO (named pipe), not a regular file'],
      ['zero.png', 'a symbolic link to a character device, not a regular file'],
      ['dangling.jpg', `a dangling symbolic link (to ${join(dir, 'nowhere.jpg')})`],
      ['loop-a.jpg', 'a symbolic link loop'],
      ['folder.jpg', 'a folder, not a regular file'],
      ['empty.jpg', 'an empty file'],
      ['missing.jpg', 'no such file'],
    ];
    const pipeline = compose({ steps: [resize(32), centerCrop(28)] });
    for (const [name, why] of cases) {
      const path = join(dir, name);
      for (const run of [() => decode({ kind: 'file', path }, 3), () => pipeline({ kind: 'file', path }, new Rng(0))]) {
        await assert.rejects(run(), (e: Error) => e instanceof BadImageError && e.message === `cannot decode image ${path}: ${why}`);
      }
    }
  });

  it('ImageFolder follows links but stops at a loop, naming it; entries it cannot follow are listed for the reader to report', async () => {
    const root = join(dir, 'folder');
    mkdirSync(join(root, 'cat', 'sub'), { recursive: true });
    writeFileSync(join(root, 'cat', 'a.png'), pngFile(2, 2, 0, 8, noise(4, 1)));
    symlinkSync(join(root, 'nowhere.png'), join(root, 'cat', 'broken.png'));
    symlinkSync(join(root, 'nowhere'), join(root, 'broken-class'));
    symlinkSync(join(root, 'cat'), join(root, 'dog')); // a class folder that is a link: followed
    const ds = new ImageFolder(root);
    assert.deepEqual(ds.classes, ['cat', 'dog']);
    assert.deepEqual(ds.paths, [join(root, 'cat/a.png'), join(root, 'cat/broken.png'), join(root, 'dog/a.png'), join(root, 'dog/broken.png')]);
    symlinkSync(join(root, 'cat'), join(root, 'cat', 'sub', 'up'));
    assert.throws(() => new ImageFolder(root), { message: `ImageFolder ${root}: ${join(root, 'cat/sub/up')} is a symbolic link loop (it leads back to ${join(root, 'cat')}): remove the link` });
  });
});

describe('sizes bounded', () => {
  const dir = tempDir();

  it('a PNG whose header promises 10000×10000 pixels is refused before decoding; a 150000×1 one before resizing to 38400000×256', async () => {
    const huge = join(dir, 'huge.png');
    writeFileSync(huge, pngFile(10000, 10000, 0, 8, new Uint8Array(0)).subarray(0, 33 + 12)); // IHDR only
    await assert.rejects(decode({ kind: 'file', path: huge }, 3), { message: `cannot decode image ${huge}: 10000×10000 = 100000000 pixels, more than PIL's limit of 89478485 (a decompression bomb?)` });
    const thin = join(dir, 'thin.png');
    writeFileSync(thin, pngFile(150000, 1, 0, 8, new Uint8Array(150000)));
    const predict = compose({ steps: [resize(256), centerCrop(224)] });
    const before = process.memoryUsage().rss;
    await assert.rejects(predict({ kind: 'file', path: thin }, new Rng(0)), {
      message: `cannot decode image ${thin}: resizing a 150000×1 image to 38400000×256 would make 9830400000 pixels, more than the limit of 16777216 (an extreme aspect ratio?)`,
    });
    assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20, 'nothing large was allocated');
  });
});
