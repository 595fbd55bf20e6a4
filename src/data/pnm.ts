// Netpbm images (PBM, PGM, PPM; plain P1–P3 and raw P4–P6), read in JavaScript because sharp's
// prebuilt libvips has no PPM loader. Only what PIL reads to the same pixels: maxval 255 (8-bit)
// and bitmaps; other maxvals are refused by name rather than decoded differently.
import type { Image } from './dataset.js';
import { checkPixels } from './image_size.js';

/** Decodes a Netpbm file, or returns null when `b` does not start with a P1–P6 magic number. */
export function readPnm(b: Uint8Array): Image | null {
  if (b.length < 2 || b[0] !== 0x50 || b[1] < 0x31 || b[1] > 0x36) return null;
  const kind = b[1] - 0x30;
  const bitmap = kind === 1 || kind === 4;
  const channels = kind === 3 || kind === 6 ? 3 : 1;
  let o = 2;
  // Header fields: whitespace-separated integers, with # comments up to the end of the line.
  const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const skip = (): void => {
    for (;;) {
      while (o < b.length && isSpace(b[o])) o++;
      if (b[o] !== 0x23) return;
      while (o < b.length && b[o] !== 0x0a && b[o] !== 0x0d) o++;
    }
  };
  const int = (what: string): number => {
    skip();
    const start = o;
    while (o < b.length && b[o] >= 0x30 && b[o] <= 0x39 && o - start < 10) o++;
    if (o === start) throw new Error(`PNM: expected the ${what} at byte ${start}`);
    return Number(String.fromCharCode(...b.subarray(start, o)));
  };
  const width = int('width');
  const height = int('height');
  const maxval = bitmap ? 1 : int('maxval');
  if (width < 1 || height < 1) throw new Error(`PNM: size ${width}×${height} must be at least 1×1`);
  if (!bitmap && maxval !== 255) throw new Error(`PNM: maxval ${maxval} is not supported (only 8-bit files, maxval 255)`);
  checkPixels(width, height);
  const n = width * height * channels;
  const data = new Uint8Array(n);
  if (kind <= 3) {
    // Plain: decimal samples (P1's bits may be run together).
    for (let i = 0; i < n; i++) {
      if (kind === 1) {
        skip();
        if (b[o] !== 0x30 && b[o] !== 0x31) throw new Error(`PNM: expected 0 or 1 at byte ${o} (pixel ${i} of ${n})`);
        data[i] = b[o++] === 0x31 ? 0 : 255;
      } else {
        const v = int(`sample ${i} of ${n}`);
        if (v > maxval) throw new Error(`PNM: sample ${i} is ${v}, more than maxval ${maxval}`);
        data[i] = v;
      }
    }
  } else {
    o++; // the single whitespace byte after the header
    const rowBytes = bitmap ? Math.ceil(width / 8) : width * channels;
    if (b.length - o < rowBytes * height) throw new Error(`PNM: truncated: ${width}×${height} needs ${rowBytes * height} bytes of pixels, the file has ${Math.max(0, b.length - o)}`);
    if (!bitmap) data.set(b.subarray(o, o + n));
    else for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = (b[o + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1 ? 0 : 255;
  }
  return { data, width, height, channels };
}
