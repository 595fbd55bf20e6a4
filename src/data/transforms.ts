// Image transforms with torchvision's semantics (sizes, rounding, random draws in the same
// order), on 8-bit HWC images; decoding and resampling run in sharp (libvips, on libuv's
// threads), the cheap pixel copies (crop, pad, flip) in JavaScript. The last step, toChw, is
// ToTensor + Normalize: float32 CHW. Random steps draw from the Rng they are given, so the
// loader's per-sample Rng(seed, epoch, index) makes every augmentation reproducible.
// A first step that is a crop-and-resize (Resize, CenterCrop, RandomResizedCrop) runs while a
// file is decoded, in the same sharp call: the same pixels, about half the work.
import sharp from 'sharp';
import type { Image, Sample } from './dataset.js';
import { BadImageError, checkRegion, convertChannels, decodeImage, readImageBytes, sharpRegion, type Region } from './image_file.js';
import { imageSize } from './image_size.js';
import type { Rng } from '../util/rng.js';

export { BadImageError, convertChannels, type Region };

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** A float32 image in CHW order, the input of a network. */
export interface Chw {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A built-in transform as data, so that a worker thread can rebuild it (see Recipe). */
export type StepSpec =
  | { kind: 'resize'; size: Size }
  | { kind: 'centerCrop'; size: Size }
  | { kind: 'randomCrop'; size: Size; padding: number }
  | { kind: 'randomResizedCrop'; size: Size; scale: [number, number]; ratio: [number, number] }
  | { kind: 'randomHorizontalFlip'; p: number };

export interface ImageTransform {
  (img: Image, rng: Rng): Image | Promise<Image>;
  /** What the transform is, on the built-in ones: a pipeline of them can run in the loader's workers. */
  readonly spec?: StepSpec;
  /**
   * Set on transforms that are a crop-and-resize: the region for an image of this size, drawing
   * the same random numbers as the call. Returns null, drawing nothing, when the transform is
   * not a plain region for this size (e.g. a center crop that needs padding).
   */
  readonly region?: (width: number, height: number, rng: Rng) => Region | null;
}

/** A pipeline as data: compose's options with every step a StepSpec (structured-cloneable). */
export interface Recipe {
  channels: 1 | 3;
  steps: StepSpec[];
  mean: number[];
  std: number[];
}

/**
 * Decoding, then image transforms, then ToTensor + Normalize: what the loader runs per sample.
 * `recipe` is set when every step is a built-in transform: the loader's worker threads rebuild
 * the same pipeline from it.
 */
export type Pipeline = ((sample: Sample, rng: Rng) => Promise<Chw>) & { readonly recipe?: Recipe };

/** Decodes a file (JPEG, PNG, WebP, BMP, PPM, …) as PIL does, or takes in-memory pixels, as `channels` channels. */
export async function decode(sample: Sample, channels: 1 | 3): Promise<Image> {
  if (sample.kind === 'image') return convertChannels(sample.image, channels);
  return decodeImage(sample.path, await readImageBytes(sample.path), channels, null, applyRegion);
}

/** Decodes a file and applies a crop-and-resize step in the same sharp call where it can. */
async function decodeWithRegion(file: string, channels: 1 | 3, step: ImageTransform, rng: Rng): Promise<Image> {
  const bytes = await readImageBytes(file);
  const size = imageSize(bytes);
  const region = size && step.region!(size.width, size.height, rng);
  if (region) {
    try {
      checkRegion(region, size.width, size.height);
    } catch (e) {
      throw new BadImageError(file, (e as Error).message);
    }
    return decodeImage(file, bytes, channels, region, applyRegion);
  }
  // An unrecognised header or a region that needs padding: decode, then run the step.
  const img = await decodeImage(file, bytes, channels, null, applyRegion);
  try {
    return await step(img, rng);
  } catch (e) {
    throw new BadImageError(file, (e as Error).message);
  }
}

export type Size = number | [height: number, width: number];

function pair(size: Size): [number, number] {
  return typeof size === 'number' ? [size, size] : size;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Copies a window of an image; parts outside the image are filled with `fill`. */
export function crop(img: Image, top: number, left: number, height: number, width: number, fill = 0): Image {
  const c = img.channels;
  const out = new Uint8Array(height * width * c).fill(fill);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  for (let y = Math.max(0, top); y < Math.min(img.height, top + height); y++) {
    if (x1 <= x0) break;
    const src = (y * img.width + x0) * c;
    out.set(img.data.subarray(src, src + (x1 - x0) * c), ((y - top) * width + (x0 - left)) * c);
  }
  return { data: out, width, height, channels: img.channels };
}

/** Applies a region to decoded pixels: a copy when nothing is resampled, else sharp. */
async function applyRegion(img: Image, r: Region): Promise<Image> {
  checkRegion(r, img.width, img.height);
  const whole = r.top === 0 && r.left === 0 && r.height === img.height && r.width === img.width;
  if (r.outHeight === r.height && r.outWidth === r.width) return whole ? img : crop(img, r.top, r.left, r.height, r.width);
  const input = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
  // Without an explicit colourspace, sharp would turn a grey image into sRGB.
  const { data, info } = await sharpRegion(input, r)
    .toColourspace(img.channels === 3 ? 'srgb' : 'b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== img.channels) throw new Error(`resize: sharp returned ${info.channels} channels for a ${img.channels}-channel image`);
  return { data, width: r.outWidth, height: r.outHeight, channels: img.channels };
}

/** A transform defined by its region; it fails where the region is null. */
function regionTransform(spec: StepSpec, region: (width: number, height: number, rng: Rng) => Region | null): ImageTransform {
  const name = spec.kind;
  const apply = (img: Image, rng: Rng): Promise<Image> => {
    const r = region(img.width, img.height, rng);
    if (r === null) throw new Error(`${name}: no region for a ${img.width}×${img.height} image`);
    return applyRegion(img, r);
  };
  return Object.assign(apply, { region, spec });
}

/** Resize: a number resizes the shorter side to it (keeping the aspect ratio); [h, w] is exact. */
export function resize(size: Size): ImageTransform {
  return regionTransform({ kind: 'resize', size }, (width, height) => {
    let [outHeight, outWidth] = pair(size);
    if (typeof size === 'number') {
      const portrait = width <= height;
      const [short, long] = portrait ? [width, height] : [height, width];
      const newLong = short === size ? long : Math.floor((size * long) / short);
      [outWidth, outHeight] = portrait ? [size, newLong] : [newLong, size];
    }
    return { top: 0, left: 0, height, width, outHeight, outWidth };
  });
}

/** CenterCrop; an image smaller than the crop is padded with zeros first, as in torchvision. */
export function centerCrop(size: Size): ImageTransform {
  const [th, tw] = pair(size);
  const offset = (full: number, target: number): number =>
    target > full ? -Math.floor((target - full) / 2) : roundHalfEven((full - target) / 2);
  const apply = (img: Image): Image => crop(img, offset(img.height, th), offset(img.width, tw), th, tw);
  const region = (width: number, height: number): Region | null =>
    th > height || tw > width ? null : { top: offset(height, th), left: offset(width, tw), height: th, width: tw, outHeight: th, outWidth: tw };
  return Object.assign(apply, { region, spec: { kind: 'centerCrop', size } as const });
}

/** RandomCrop after zero-padding each border by `padding` pixels (CIFAR-style augmentation). */
export function randomCrop(size: Size, options: { padding?: number } = {}): ImageTransform {
  const [th, tw] = pair(size);
  const padding = options.padding ?? 0;
  const apply = (img: Image, rng: Rng): Image => {
    const h = img.height + 2 * padding;
    const w = img.width + 2 * padding;
    if (h < th || w < tw) throw new Error(`randomCrop: crop ${th}×${tw} is larger than the padded image ${h}×${w}`);
    if (h === th && w === tw) return crop(img, -padding, -padding, th, tw);
    const i = rng.int(0, h - th + 1);
    const j = rng.int(0, w - tw + 1);
    return crop(img, i - padding, j - padding, th, tw);
  };
  return Object.assign(apply, { spec: { kind: 'randomCrop', size, padding } as const });
}

/**
 * RandomResizedCrop: a crop of random area (scale) and aspect ratio (log-uniform), resized to
 * `size`; after 10 failed attempts, a center crop clamped to the ratio range (torchvision).
 */
export function randomResizedCrop(
  size: Size,
  options: { scale?: [number, number]; ratio?: [number, number] } = {},
): ImageTransform {
  const [outHeight, outWidth] = pair(size);
  const [sMin, sMax] = options.scale ?? [0.08, 1.0];
  const [rMin, rMax] = options.ratio ?? [3 / 4, 4 / 3];
  return regionTransform({ kind: 'randomResizedCrop', size, scale: [sMin, sMax], ratio: [rMin, rMax] }, (width, height, rng) => {
    const area = width * height;
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = area * rng.uniform(sMin, sMax);
      const aspect = Math.exp(rng.uniform(Math.log(rMin), Math.log(rMax)));
      const w = roundHalfEven(Math.sqrt(targetArea * aspect));
      const h = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        const top = rng.int(0, height - h + 1);
        const left = rng.int(0, width - w + 1);
        return { top, left, height: h, width: w, outHeight, outWidth };
      }
    }
    const inRatio = width / height;
    let w = width;
    let h = height;
    if (inRatio < rMin) h = roundHalfEven(w / rMin);
    else if (inRatio > rMax) w = roundHalfEven(h * rMax);
    return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w, outHeight, outWidth };
  });
}

/** Mirrors an image left–right. */
export function hflip(img: Image): Image {
  const { width, height, channels: c } = img;
  const src = img.data;
  const out = new Uint8Array(src.length);
  const stride = width * c;
  for (let row = 0; row < height * stride; row += stride) {
    for (let x = 0, back = row + stride - c; x < stride; x += c, back -= c) {
      out[row + x] = src[back];
      if (c === 3) {
        out[row + x + 1] = src[back + 1];
        out[row + x + 2] = src[back + 2];
      }
    }
  }
  return { ...img, data: out };
}

/** RandomHorizontalFlip: mirrors with probability p. */
export function randomHorizontalFlip(p = 0.5): ImageTransform {
  return Object.assign((img: Image, rng: Rng) => (rng.float() < p ? hflip(img) : img), { spec: { kind: 'randomHorizontalFlip', p } as const });
}

/** The transform a StepSpec describes. */
export function stepOf(spec: StepSpec): ImageTransform {
  switch (spec.kind) {
    case 'resize': return resize(spec.size);
    case 'centerCrop': return centerCrop(spec.size);
    case 'randomCrop': return randomCrop(spec.size, { padding: spec.padding });
    case 'randomResizedCrop': return randomResizedCrop(spec.size, { scale: spec.scale, ratio: spec.ratio });
    case 'randomHorizontalFlip': return randomHorizontalFlip(spec.p);
  }
}

/** ToTensor + Normalize: (pixel / 255 − mean[c]) / std[c], in CHW order. */
export function toChw(img: Image, mean: number[], std: number[]): Chw {
  const { width, height, channels: c } = img;
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (v.length !== c && v.length !== 1) throw new Error(`toChw: ${name} has ${v.length} values for a ${c}-channel image`);
  }
  const plane = width * height;
  const src = img.data;
  const out = new Float32Array(plane * c);
  for (let k = 0; k < c; k++) {
    const s = std.length === 1 ? std[0] : std[k];
    const scale = 1 / (255 * s);
    const shift = (mean.length === 1 ? mean[0] : mean[k]) / s;
    const base = k * plane;
    for (let i = 0, j = k; i < plane; i++, j += c) out[base + i] = src[j] * scale - shift;
  }
  return { data: out, channels: c, height, width };
}

export interface ComposeOptions {
  /** Channels after decoding: 3 (RGB, the default) or 1 (grey). */
  channels?: 1 | 3;
  /** Image transforms, applied in order. */
  steps?: ImageTransform[];
  /** Normalize; default mean 0 and std 1 (plain ToTensor). */
  mean?: number[];
  std?: number[];
}

/** Decode → steps → ToTensor + Normalize, as one per-sample pipeline. */
export function compose(options: ComposeOptions = {}): Pipeline {
  const { channels = 3, steps = [], mean = [0], std = [1] } = options;
  const [first, ...rest] = steps;
  const specs = steps.map((s) => s.spec);
  const recipe = specs.every((s) => s !== undefined) ? { channels, steps: specs as StepSpec[], mean, std } : undefined;
  const pipeline = async (sample: Sample, rng: Rng): Promise<Chw> => {
    let img: Image;
    let todo = steps;
    if (sample.kind === 'file' && first?.region) {
      img = await decodeWithRegion(sample.path, channels, first, rng);
      todo = rest;
    } else {
      img = await decode(sample, channels);
    }
    for (const step of todo) img = await step(img, rng);
    return toChw(img, mean, std);
  };
  return Object.assign(pipeline, { recipe });
}

/** The pipeline a Recipe describes (in a worker thread: the same as the one it came from). */
export function fromRecipe(r: Recipe): Pipeline {
  return compose({ channels: r.channels, steps: r.steps.map(stepOf), mean: r.mean, std: r.std });
}
