// Test classes matched to training classes by name, not by position: a test folder with fewer
// classes than train/, or a Decathlon val file listing its categories in another order, keeps
// every image's true class. A test class the training set lacks cannot be predicted at all:
// an error before any work. Training classes without test images are reported.
import { checkIndex, type Dataset, type Sample } from './dataset.js';

/** `test`, relabelled into the training classes. */
export class Relabelled implements Dataset {
  readonly classes: string[];
  readonly labels: Int32Array;

  constructor(
    readonly base: Dataset,
    classes: string[],
    labels: Int32Array,
  ) {
    this.classes = classes;
    this.labels = labels;
  }

  get length(): number {
    return this.base.length;
  }

  get(i: number): Sample {
    checkIndex(i, this.base.length);
    return this.base.get(i);
  }
}

export interface ClassMatch {
  /** The test set, labelled with the training classes. */
  test: Dataset;
  /** Training classes without test images (accuracy is over the others). */
  absent: string[];
}

/** At most `n` names, then how many more. */
export function listNames(names: string[], n = 10): string {
  const shown = names.slice(0, n).map((s) => `"${s}"`).join(', ');
  return names.length > n ? `${shown} and ${names.length - n} more` : shown;
}

/** Maps `test`'s labels to `train`'s classes by name; `what` names the data for the messages. */
export function matchClasses(train: Dataset, test: Dataset, what: string): ClassMatch {
  const index = new Map<string, number>();
  train.classes.forEach((name, k) => {
    if (index.has(name)) throw new Error(`${what}: training class name "${name}" appears twice (classes ${index.get(name)} and ${k}): test classes are matched by name, so names must be unique`);
    index.set(name, k);
  });
  const counts = new Int32Array(test.classes.length);
  for (const y of test.labels) counts[y]++;
  const missing = test.classes.filter((name, k) => counts[k] > 0 && !index.has(name));
  if (missing.length > 0) {
    const images = missing.map((name) => counts[test.classes.indexOf(name)]).reduce((a, b) => a + b, 0);
    throw new Error(
      `${what}: test class${missing.length > 1 ? 'es' : ''} ${listNames(missing)} (${images} image${images === 1 ? '' : 's'}) ${missing.length > 1 ? 'are' : 'is'} not among the training classes (${listNames(train.classes)}): ` +
        'a network cannot predict a class it was not trained on; add training images of it, or remove it from the test set',
    );
  }
  const map = Int32Array.from(test.classes, (name) => index.get(name) ?? -1);
  const labels = test.labels.map((y) => map[y]);
  const present = new Set(labels);
  const absent = train.classes.filter((_, k) => !present.has(k));
  const same = test.classes.length === train.classes.length && map.every((k, i) => k === i);
  return { test: same ? test : new Relabelled(test, train.classes, labels), absent };
}
