// Caltech-UCSD Birds-200-2011, as distributed (CUB_200_2011/):
//   images.txt               <image_id> <relative path under images/>
//   image_class_labels.txt   <image_id> <class_id, 1-based>
//   train_test_split.txt     <image_id> <1 = train, 0 = test>
//   classes.txt              <class_id> <class name>
import { join } from 'node:path';
import { FileDataset } from './dataset.js';
import { intField, readIdTable } from './files.js';

export interface CubOptions {
  /** The CUB_200_2011 folder. */
  root: string;
  split: 'train' | 'test';
}

export class Cub200 extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];

  constructor(options: CubOptions) {
    super();
    const { root, split } = options;
    const what = 'CUB-200-2011';
    const classesFile = join(root, 'classes.txt');
    const labelsFile = join(root, 'image_class_labels.txt');
    const splitFile = join(root, 'train_test_split.txt');
    const imagesFile = join(root, 'images.txt');
    const classTable = readIdTable(classesFile, what, 2);
    const labelTable = readIdTable(labelsFile, what, 2);
    const splitTable = readIdTable(splitFile, what, 2);
    const imageTable = readIdTable(imagesFile, what, 2);

    const classIds = [...classTable.keys()].sort((a, b) => a - b);
    classIds.forEach((id, k) => {
      if (id !== k + 1) throw new Error(`${classesFile}: class ids must be 1..${classIds.length}, missing ${k + 1}`);
    });
    this.classes = classIds.map((id) => classTable.get(id)!.fields[0]);

    this.paths = [];
    const labels: number[] = [];
    const imageIds = [...imageTable.keys()].sort((a, b) => a - b);
    for (const id of imageIds) {
      const label = labelTable.get(id);
      if (label === undefined) throw new Error(`${labelsFile}: no class for image id ${id} (listed in ${imagesFile})`);
      const isTrain = splitTable.get(id);
      if (isTrain === undefined) throw new Error(`${splitFile}: no split for image id ${id} (listed in ${imagesFile})`);
      const flag = intField(isTrain.fields[0], splitFile, isTrain.line, 'is_training_image');
      if (flag !== 0 && flag !== 1) throw new Error(`${splitFile}:${isTrain.line}: is_training_image must be 0 or 1, got ${flag}`);
      if ((flag === 1) !== (split === 'train')) continue;
      const classId = intField(label.fields[0], labelsFile, label.line, 'class_id');
      if (classId < 1 || classId > this.classes.length) {
        throw new Error(`${labelsFile}:${label.line}: class_id ${classId} out of range, expected 1..${this.classes.length}`);
      }
      this.paths.push(join(root, 'images', imageTable.get(id)!.fields[0]));
      labels.push(classId - 1);
    }
    this.labels = Int32Array.from(labels);
  }

}
