// Image list files, one `relative/path label` per line: TLlib's image_list/*.txt and the
// Piggyback splits of WikiArt and Sketch. Paths are relative to `root`; labels are 0-based.
import { resolve } from 'node:path';
import { checkLabels, FileDataset } from './dataset.js';
import { intField, readLines } from './files.js';

const MAX_CLASSES = 1_000_000;

export interface ImageListOptions {
  /** Folder the listed paths are relative to. */
  root: string;
  /** The list file. */
  list: string;
  /** Class names; by default '0' … String(max label). */
  classes?: string[];
}

export class ImageList extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];

  constructor(options: ImageListOptions) {
    super();
    const { root, list } = options;
    const lines = readLines(list, 'image list');
    if (lines.length === 0) throw new Error(`${list}: the image list is empty`);
    this.paths = [];
    const labels: number[] = [];
    for (const { number, fields } of lines) {
      if (fields.length < 2) throw new Error(`${list}:${number}: expected '<path> <label>', got '${fields.join(' ')}'`);
      // The label is the last field, so paths may contain spaces.
      const label = intField(fields[fields.length - 1], list, number, 'label');
      this.paths.push(resolve(root, fields.slice(0, -1).join(' ')));
      labels.push(label);
    }
    if (!options.classes) {
      // Classes are 0 … the largest label: a corrupt label must not make millions of them.
      const top = labels.reduce((a, b, i) => (b > labels[a] ? i : a), 0);
      if (labels[top] >= MAX_CLASSES) {
        throw new Error(`${list}:${lines[top].number}: label ${labels[top]} would make ${labels[top] + 1} classes, more than ${MAX_CLASSES}: is the file corrupt?`);
      }
    }
    this.classes = options.classes ?? Array.from({ length: labels.reduce((a, b) => Math.max(a, b), -1) + 1 }, (_, k) => String(k));
    this.labels = checkLabels(labels, this.classes.length, (i) => `${list}:${lines[i].number}`);
  }

}
