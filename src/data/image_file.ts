// Image files read as torchvision reads them (PIL: Image.open(f).convert('RGB'), or 'L' for grey
// networks), and only regular files: a FIFO named x.jpg would block the reader forever, a
// device could be endless. Netpbm and BMP files are read in JavaScript (pnm.ts, bmp.ts); the
// rest is decoded by sharp without its ICC transform (PIL ignores embedded profiles), and what
// sharp converts differently from PIL (CMYK, 16-bit samples, colour → grey) is converted here
// with PIL's formulas. Sizes are bounded before decoding: PIL's pixel limit on the input.
import { constants } from 'node:fs';
import { lstat, open, readlink, stat } from 'node:fs/promises';
import sharp from 'sharp';
import type { Image } from './dataset.js';
import { readBmp } from './bmp.js';
import { checkPixels, imageSize, MAX_IMAGE_PIXELS, type ColourKind } from './image_size.js';

export { MAX_IMAGE_PIXELS };
import { readPnm } from './pnm.js';

/** The largest image file read (a larger one is not a training image). */
export const MAX_IMAGE_BYTES = 256 * 2 ** 20;

/** Thrown when an image file cannot be read or decoded; the loader's skipBad skips exactly these. */
export class BadImageError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`cannot decode image ${file}: ${reason}`);
    this.name = 'BadImageError';
  }
}

const KINDS: [(s: import('node:fs').Stats) => boolean, string][] = [
  [(s) => s.isFIFO(), 'a FIFO (named pipe)'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isDirectory(), 'a folder'],
];

function notRegular(s: import('node:fs').Stats): string | null {
  if (s.isFile()) return null;
  return `${KINDS.find(([is]) => is(s))?.[1] ?? 'not a regular file'}, not a regular file`;
}

/** Why `file` cannot be opened as an image (missing, a link to nowhere, a FIFO, …), or null. */
export async function fileProblem(file: string): Promise<string | null> {
  let link;
  try {
    link = await lstat(file);
  } catch (e) {
    return reason(e);
  }
  try {
    const s = await stat(file);
    const kind = notRegular(s);
    if (kind) return link.isSymbolicLink() ? `a symbolic link to ${kind}` : kind;
    if (s.size === 0) return 'an empty file';
    if (s.size > MAX_IMAGE_BYTES) return `${(s.size / 2 ** 20).toFixed(0)} MB, more than the ${MAX_IMAGE_BYTES / 2 ** 20} MB an image file may have`;
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'a symbolic link loop';
    if (code === 'ENOENT' && link.isSymbolicLink()) return `a dangling symbolic link (to ${await readlink(file).catch(() => '?')})`;
    return reason(e);
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EACCES') return 'permission denied';
  if (err.code === 'ENOTDIR') return 'a part of the path is not a folder';
  return err.message;
}

/** The bytes of an image file, after checking it is a regular file of a sane size. */
export async function readImageBytes(file: string): Promise<Buffer> {
  const problem = await fileProblem(file);
  if (problem) throw new BadImageError(file, problem);
  // O_NONBLOCK: had the file been replaced by a FIFO since stat, open would not wait for a writer.
  const fd = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: unknown) => {
    throw new BadImageError(file, reason(e));
  });
  try {
    const s = await fd.stat();
    const kind = notRegular(s);
    if (kind) throw new BadImageError(file, kind);
    if (s.size > MAX_IMAGE_BYTES) throw new BadImageError(file, `more than ${MAX_IMAGE_BYTES / 2 ** 20} MB`);
    return await fd.readFile();
  } finally {
    await fd.close();
  }
}

/** A window of an image resampled to an output size: what a crop-and-resize step asks of decode. */
export interface Region {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

/** The largest output of a resize: 4096² pixels, far above any recipe here; beyond is a bad image. */
export const MAX_OUTPUT_PIXELS = 2 ** 24;

/** Throws unless a region's output is within MAX_OUTPUT_PIXELS. */
export function checkRegion(r: Region, width: number, height: number): void {
  const n = r.outWidth * r.outHeight;
  if (n > MAX_OUTPUT_PIXELS) {
    throw new Error(`resizing a ${width}×${height} image to ${r.outWidth}×${r.outHeight} would make ${n} pixels, more than the limit of ${MAX_OUTPUT_PIXELS} (an extreme aspect ratio?)`);
  }
}

/** Adds a region's extract and resize to a sharp pipeline (bilinear, antialiased). */
export function sharpRegion(s: sharp.Sharp, r: Region): sharp.Sharp {
  s = s.extract({ left: r.left, top: r.top, width: r.width, height: r.height });
  if (r.outHeight === r.height && r.outWidth === r.width) return s;
  return s.resize(r.outWidth, r.outHeight, { fit: 'fill', kernel: 'linear' });
}

const SHARP_INPUT = { ignoreIcc: true, limitInputPixels: MAX_IMAGE_PIXELS };

/** Grey → RGB by replication; RGB → grey with PIL's fixed-point ITU-R 601 luma (convert('L')). */
export function convertChannels(img: Image, channels: 1 | 3): Image {
  if (img.channels === channels) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  const d = img.data;
  if (channels === 3) {
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = d[i];
  } else {
    // PIL's L24: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16, i.e. 0.299 R + 0.587 G + 0.114 B.
    for (let i = 0; i < n; i++) out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >>> 16;
  }
  return { data: out, width: img.width, height: img.height, channels };
}

/**
 * Decodes an image file's bytes as `channels` channels, with PIL's values, then crops and
 * resizes to `region` if given (`applyRegion` for decoded pixels). `size` is the header's
 * size and colour kind when known. Errors are BadImageErrors naming `file`.
 */
export async function decodeImage(
  file: string,
  bytes: Buffer,
  channels: 1 | 3,
  region: Region | null,
  applyRegion: (img: Image, r: Region) => Promise<Image>,
): Promise<Image> {
  try {
    const own = readPnm(bytes) ?? readBmp(bytes);
    if (own) {
      const img = convertChannels(own, channels);
      return region ? await applyRegion(img, region) : img;
    }
    const header = imageSize(bytes);
    const colour: ColourKind | undefined = header?.colour;
    if (header) checkPixels(header.width, header.height);
    if (colour === 'grey' || (colour === 'rgb' && channels === 3)) {
      // sharp gives PIL's values here: one call decodes, crops and resizes.
      const space = channels === 3 ? 'srgb' : 'b-w';
      let s = sharp(bytes, SHARP_INPUT).removeAlpha().pipelineColourspace(space);
      if (region) s = sharpRegion(s, region);
      const { data, info } = await s.toColourspace(space).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, expected ${channels}`);
      return { data, width: info.width, height: info.height, channels };
    }
    const meta = await sharp(bytes, SHARP_INPUT).metadata();
    if (meta.width && meta.height) checkPixels(meta.width, meta.height);
    const img = convertChannels(await pilMode(bytes, meta), channels);
    return region ? await applyRegion(img, region) : img;
  } catch (e) {
    if (e instanceof BadImageError) throw e;
    throw new BadImageError(file, (e as Error).message);
  }
}

/** Decodes to 8-bit grey or RGB the way PIL's convert does from the file's own mode. */
async function pilMode(bytes: Buffer, meta: sharp.Metadata): Promise<Image> {
  const base = sharp(bytes, SHARP_INPUT).removeAlpha();
  if (meta.space === 'cmyk') {
    // PIL's cmyk2rgb: nk = 255 − K; each of R, G, B = nk − C·nk/255 (rounded as MULDIV255).
    const { data, info } = await base.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    const out = new Uint8Array(3 * n);
    const muldiv255 = (a: number, b: number) => {
      const t = a * b + 128;
      return ((t >> 8) + t) >> 8;
    };
    for (let i = 0; i < n; i++) {
      const nk = 255 - data[4 * i + 3];
      for (let c = 0; c < 3; c++) out[3 * i + c] = nk - muldiv255(data[4 * i + c], nk);
    }
    return { data: out, width: info.width, height: info.height, channels: 3 };
  }
  const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
  if (meta.depth === 'ushort') {
    // PIL opens 16-bit grey as mode I and clips it to 0…255 in convert; 16-bit RGB keeps the high byte.
    const space = grey ? 'grey16' : 'rgb16';
    const { data, info } = await base.pipelineColourspace(space).toColourspace(space).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const u16 = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
    const out = grey ? Uint8Array.from(u16, (v) => Math.min(v, 255)) : Uint8Array.from(u16, (v) => v >> 8);
    return { data: out, width: info.width, height: info.height, channels: grey ? 1 : 3 };
  }
  const space = grey ? 'b-w' : 'srgb';
  const { data, info } = await base.pipelineColourspace(space).toColourspace(space).raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: grey ? 1 : 3 };
}
