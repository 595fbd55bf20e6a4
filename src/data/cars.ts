// Stanford Cars, as distributed: the devkit's cars_meta.mat (`class_names`) and
// cars_train_annos.mat, cars_test_annos_withlabels.mat (struct array `annotations` with fields
// bbox_x1, bbox_y1, bbox_x2, bbox_y2, class (1-based), fname), images in cars_train/ and
// cars_test/. Each .mat file is looked for in devkit/ first, then in the root (torchvision keeps
// cars_test_annos_withlabels.mat there).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FileDataset } from './dataset.js';
import { matScalar, matString, matStrings, matVariable, readMat } from './mat.js';

const ANNOTATIONS = { train: 'cars_train_annos.mat', test: 'cars_test_annos_withlabels.mat' };
const IMAGES = { train: 'cars_train', test: 'cars_test' };

export class StanfordCars extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];
  /** Bounding boxes, 4 per image: x1, y1, x2, y2 (1-based pixels, inclusive). */
  readonly boxes: Int32Array;

  constructor(options: { root: string; split: 'train' | 'test' }) {
    super();
    const { root, split } = options;
    const metaFile = findFile(root, 'cars_meta.mat');
    this.classes = matStrings(matVariable(readMat(metaFile), 'class_names', metaFile), `${metaFile}: class_names`);

    const annosFile = findFile(root, ANNOTATIONS[split]);
    const annos = matVariable(readMat(annosFile), 'annotations', annosFile);
    if (annos.kind !== 'struct') throw new Error(`${annosFile}: annotations must be a struct array, got ${annos.kind}`);
    for (const field of ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname']) {
      if (!annos.fields.includes(field)) {
        throw new Error(`${annosFile}: annotations has no field '${field}' (fields: ${annos.fields.join(', ')})`);
      }
    }
    const n = annos.items.length;
    this.paths = [];
    this.labels = new Int32Array(n);
    this.boxes = new Int32Array(4 * n);
    annos.items.forEach((item, i) => {
      const where = (field: string): string => `${annosFile}: annotations(${i + 1}).${field}`;
      const cls = matScalar(item.get('class'), where('class'));
      if (!Number.isInteger(cls) || cls < 1 || cls > this.classes.length) {
        throw new Error(`${where('class')} = ${cls} out of range, expected 1..${this.classes.length} (the classes in ${metaFile})`);
      }
      this.labels[i] = cls - 1;
      ['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2'].forEach((field, k) => {
        this.boxes[4 * i + k] = matScalar(item.get(field), where(field));
      });
      this.paths.push(join(root, IMAGES[split], matString(item.get('fname'), where('fname'))));
    });
  }

}

function findFile(root: string, name: string): string {
  const candidates = [join(root, 'devkit', name), join(root, name)];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`Stanford Cars: missing annotation file ${name} (looked for ${candidates.join(' and ')})`);
  return found;
}
