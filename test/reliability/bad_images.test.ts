// Bad image files, found all at once and survived: `spottune check-data` lists every one with
// why (exit 1), `train --skip-bad-images` skips and counts them (metrics.jsonl, result.json),
// `predict` classifies the readable ones and exits 1 at the end. Real files, real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, tempDir } from './helpers.js';
import { pngFile } from '../png.js';

const dir = tempDir('bad-images');
const root = join(dir, 'data');

/** An 8-bit grey PNG of width × height zeros (a 150000×1 one is 519 bytes). */
function greyPng(width: number, height: number): Buffer {
  return pngFile(width, height, 0, 8, new Uint8Array(width * height));
}

const good: string[] = [];
for (const split of ['train', 'val']) {
  for (const [k, cls] of ['cat', 'dog'].entries()) {
    mkdirSync(join(root, split, cls), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const file = join(root, split, cls, `${i}.png`);
      await sharp(Buffer.alloc(12 * 12 * 3, 40 * k + 10 * i), { raw: { width: 12, height: 12, channels: 3 } }).png().toFile(file);
      good.push(file);
    }
  }
}
const bad: Record<string, string> = {
  [join(root, 'train/cat/fifo.jpg')]: 'a FIFO (named pipe), not a regular file',
  [join(root, 'train/cat/junk.png')]: 'Input buffer contains unsupported image format',
  [join(root, 'train/dog/gone.jpg')]: `a dangling symbolic link (to ${join(root, 'nowhere.jpg')})`,
  [join(root, 'train/dog/loop.jpg')]: 'a symbolic link loop',
  [join(root, 'val/cat/zero.png')]: 'a symbolic link to a character device, not a regular file',
  [join(root, 'val/dog/thin.png')]: 'resizing a 150000×1 image to 2700000×18 would make 48600000 pixels, more than the limit of 16777216 (an extreme aspect ratio?)',
};
assert.equal(spawnSync('mkfifo', [join(root, 'train/cat/fifo.jpg')]).status, 0);
writeFileSync(join(root, 'train/cat/junk.png'), 'not an image');
symlinkSync(join(root, 'nowhere.jpg'), join(root, 'train/dog/gone.jpg'));
symlinkSync(join(root, 'train/dog/loop.jpg'), join(root, 'train/dog/loop.jpg'));
symlinkSync('/dev/zero', join(root, 'val/cat/zero.png'));
writeFileSync(join(root, 'val/dog/thin.png'), greyPng(150000, 1));
const data = `imagefolder:${root}`;
const small = ['--image-size', '16'];

test('check-data lists every bad file with why, and exits 1; a clean dataset passes', () => {
  const r = runCli(['check-data', '--data', data, ...small, '--json']);
  assert.equal(r.status, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { images: number; bad: { split: string; path: string; reason: string }[] };
  assert.equal(out.images, good.length + 6);
  assert.deepEqual(Object.fromEntries(out.bad.map((b) => [b.path, b.reason])), bad);
  const text = runCli(['check-data', '--data', data, ...small, '--quiet']);
  assert.equal(text.status, 1);
  assert.match(text.stdout, new RegExp(`^${join(root, 'train/cat/fifo.jpg')}: a FIFO \\(named pipe\\), not a regular file \\(train\\)$`, 'm'));
  assert.match(text.stdout, new RegExp(`imagefolder:${root}: 6 of ${good.length + 6} images cannot be read; fix or remove them, or train with --skip-bad-images\\n$`));

  const clean = join(dir, 'clean');
  for (const f of good.filter((p) => p.endsWith('0.png') || p.endsWith('1.png'))) {
    mkdirSync(join(clean, f.slice(root.length, f.lastIndexOf('/'))), { recursive: true });
    writeFileSync(join(clean, f.slice(root.length)), readFileSync(f));
  }
  const ok = runCli(['check-data', '--data', `imagefolder:${clean}`, '--quiet']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, `imagefolder:${clean}: all 8 images can be read\n`);
});

test('train stops at a bad file naming it; with --skip-bad-images it skips and counts them; predict goes past bad files and exits 1', () => {
  const args = (output: string, extra: string[] = []) => ['train', '--method', 'scratch', '--arch', 'resnet26', '--width', '0.25', '--data', data, ...small,
    '--epochs', '1', '--batch-size', '8', '--threads', '1', '--quiet', '--output', output, ...extra];
  const stopped = runCli(args(join(dir, 'stopped')));
  assert.equal(stopped.status, 1);
  assert.match(stopped.stderr, new RegExp(`^spottune: cannot decode image (${Object.keys(bad).join('|')}): `));

  const run = join(dir, 'run');
  const r = runCli(args(run, ['--skip-bad-images']));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`spottune: 6 image files could not be read and were skipped \\(listed in ${run}/result.json\\)`));
  const result = JSON.parse(readFileSync(join(run, 'result.json'), 'utf8')) as { badImages: { path: string; reason: string }[] };
  // Training crops at random (RandomResizedCrop), so the thin image is bad only for evaluation.
  assert.deepEqual(Object.fromEntries(result.badImages.map((b) => [b.path, b.reason])), bad);
  const [epoch] = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { skippedImages: number });
  assert.equal(epoch.skippedImages, 6);

  // eval of that run leaves out the unreadable test images, as training's evaluation did.
  const evaluated = runCli(['eval', run, '--checkpoint', 'last', '--json']);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  const { testAcc } = JSON.parse(readFileSync(join(run, 'result.json'), 'utf8')) as { testAcc: number };
  assert.equal((JSON.parse(evaluated.stdout) as { testAcc: number }).testAcc, testAcc, 'the same accuracy as the run\'s last evaluation');

  const images = [good[0], join(root, 'train/cat/junk.png'), join(dir, 'missing.jpg'), good[good.length - 1]];
  const p = runCli(['predict', ...images, '--run', run]);
  assert.equal(p.status, 1);
  assert.equal(p.stdout.trim().split('\n').length, 2, p.stdout);
  assert.match(p.stdout, new RegExp(`^${good[0]}: (cat|dog) `));
  assert.match(p.stderr, new RegExp(`spottune: cannot decode image ${join(dir, 'missing.jpg')}: no such file\\n`));
  assert.match(p.stderr, /spottune: 2 of 4 images could not be read\n$/);
});
