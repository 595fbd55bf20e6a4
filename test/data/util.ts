// Helpers for the data-layer tests: temporary folders and tiny image files written with sharp.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import sharp from 'sharp';
import type { Image } from '../../src/data/dataset.js';

export const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'data');

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-data-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic RGB pixels: a gradient shifted by `seed`. */
export function pixels(width: number, height: number, seed = 0, channels: 1 | 3 = 3): Image {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = (x * 7 + y * 13 + c * 50 + seed * 31) % 256;
    }
  }
  return { data, width, height, channels };
}

/** Writes an image file; the format follows the extension (.jpg, .png, .webp). */
export async function writeImage(file: string, width = 16, height = 12, seed = 0, channels: 1 | 3 = 3): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const img = pixels(width, height, seed, channels);
  const s = sharp(img.data, { raw: { width, height, channels } });
  const ext = file.slice(file.lastIndexOf('.')).toLowerCase();
  const encoded = ext === '.png' ? s.png() : ext === '.webp' ? s.webp() : s.jpeg({ quality: 90 });
  await encoded.toFile(file);
}

export function writeText(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
