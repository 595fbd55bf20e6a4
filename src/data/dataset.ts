// The common interface of every dataset format. A dataset knows its samples and labels;
// decoding and augmentation belong to transforms, batching to the loader.

/** Interleaved 8-bit pixels (HWC): grey (1 channel) or RGB (3 channels). */
export interface Image {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

/** One sample: an image file still to decode, or pixels already in memory. */
export type Sample =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'image'; readonly image: Image };

export interface Dataset {
  readonly length: number;
  /** Class names; label k names classes[k]. */
  readonly classes: string[];
  /** labels[i] is the label of sample i, in [0, classes.length). */
  readonly labels: Int32Array;
  get(i: number): Sample;
}

/** Base of the formats whose samples are image files: paths[i] has label labels[i]. */
export abstract class FileDataset implements Dataset {
  abstract readonly classes: string[];
  abstract readonly labels: Int32Array;
  abstract readonly paths: string[];

  get length(): number {
    return this.paths.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.paths.length);
    return { kind: 'file', path: this.paths[i] };
  }
}

/** Names a sample in error messages: its file, or its index for in-memory images. */
export function describeSample(sample: Sample, index: number): string {
  return sample.kind === 'file' ? sample.path : `in-memory sample ${index}`;
}

/** Throws unless i is an integer index into a dataset of the given length. */
export function checkIndex(i: number, length: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= length) {
    throw new RangeError(`sample index ${i} out of range [0, ${length})`);
  }
}

/** Image i of grey images of width × height stored one after another in `pixels`. */
export function greyImageAt(pixels: Uint8Array, i: number, width: number, height: number): Sample {
  const area = width * height;
  return { kind: 'image', image: { data: pixels.subarray(i * area, (i + 1) * area), width, height, channels: 1 } };
}

/**
 * Converts 0-based labels to an Int32Array, checking each against the class count.
 * `where(i)` names the i-th label's source (file and line) for the error.
 */
export function checkLabels(labels: ArrayLike<number>, numClasses: number, where: (i: number) => string): Int32Array {
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new Error(`${where(i)}: label ${y} out of range, expected an integer in [0, ${numClasses})`);
    }
    out[i] = y;
  }
  return out;
}
