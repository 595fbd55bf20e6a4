// Subsets of a dataset: a seeded train/val split for formats without one, and the low-data
// setting (N labelled images per class, like TLlib's samples-per-class).
import { checkIndex, type Dataset, type Sample } from './dataset.js';
import { mixSeed, Rng } from '../util/rng.js';

/** The samples of `base` at `indices`, in that order. */
export class Subset implements Dataset {
  readonly classes: string[];
  readonly labels: Int32Array;

  constructor(
    readonly base: Dataset,
    readonly indices: Int32Array,
  ) {
    for (const i of indices) checkIndex(i, base.length);
    this.classes = base.classes;
    this.labels = indices.map((i) => base.labels[i]);
  }

  get length(): number {
    return this.indices.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.indices.length);
    return this.base.get(this.indices[i]);
  }
}

/** Indices of each class, in dataset order. */
function byClass(ds: Dataset): number[][] {
  const groups: number[][] = ds.classes.map(() => []);
  ds.labels.forEach((y, i) => groups[y].push(i));
  return groups;
}

// Stream tags keep the split's and the low-data choice's permutations independent.
const SPLIT_STREAM = 1;
const FEW_SHOT_STREAM = 2;

/** A seeded permutation of one class's indices; it depends on (seed, stream, class) only. */
function shuffled(indices: number[], seed: number, stream: number, label: number): number[] {
  const order = new Rng(mixSeed(seed, stream, label)).permutation(indices.length);
  return Array.from(order, (k) => indices[k]);
}

function sortedSubset(ds: Dataset, indices: number[]): Subset {
  return new Subset(ds, Int32Array.from(indices).sort());
}

/**
 * Splits a dataset into train and val, stratified by class: round(valFraction · n) samples of
 * each class (at least one when the class has two or more) go to val. Both keep dataset order.
 */
export function trainValSplit(ds: Dataset, options: { valFraction: number; seed: number }): { train: Subset; val: Subset } {
  const { valFraction, seed } = options;
  if (!(valFraction > 0 && valFraction < 1)) throw new RangeError(`trainValSplit: valFraction must be in (0, 1), got ${valFraction}`);
  const train: number[] = [];
  const val: number[] = [];
  byClass(ds).forEach((indices, label) => {
    const order = shuffled(indices, seed, SPLIT_STREAM, label);
    const nVal = indices.length < 2 ? 0 : Math.max(1, Math.round(valFraction * indices.length));
    val.push(...order.slice(0, nVal));
    train.push(...order.slice(nVal));
  });
  return { train: sortedSubset(ds, train), val: sortedSubset(ds, val) };
}

/**
 * The low-data setting: a seeded choice of `perClass` samples of each class (all of a class's
 * samples when it has fewer). The same seed always picks the same images, and a larger
 * `perClass` picks a superset of a smaller one.
 */
export function samplesPerClass(ds: Dataset, options: { perClass: number; seed: number }): Subset {
  const { perClass, seed } = options;
  if (!Number.isInteger(perClass) || perClass < 1) throw new RangeError(`samplesPerClass: perClass must be a positive integer, got ${perClass}`);
  const chosen: number[] = [];
  byClass(ds).forEach((indices, label) => chosen.push(...shuffled(indices, seed, FEW_SHOT_STREAM, label).slice(0, perClass)));
  return sortedSubset(ds, chosen);
}
