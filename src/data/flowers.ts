// Oxford Flowers-102, as distributed: imagelabels.mat (`labels`, 1-based, one per image),
// setid.mat (`trnid`, `valid`, `tstid`: 1-based image ids) and jpg/image_%05d.jpg.
// SpotTune (like most fine-tuning papers) trains on train+val (2,040) and tests on test (6,149).
import { join } from 'node:path';
import { FileDataset } from './dataset.js';
import { requireFile } from './files.js';
import { matNumbers, matVariable, readMat } from './mat.js';

export type FlowersSplit = 'train' | 'val' | 'test' | 'trainval';

const SPLIT_VARIABLES: Record<FlowersSplit, string[]> = {
  train: ['trnid'],
  val: ['valid'],
  test: ['tstid'],
  trainval: ['trnid', 'valid'],
};

export class Flowers102 extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];

  constructor(options: { root: string; split: FlowersSplit }) {
    super();
    const { root, split } = options;
    const labelsFile = join(root, 'imagelabels.mat');
    const setidFile = join(root, 'setid.mat');
    requireFile(labelsFile, 'Flowers-102');
    requireFile(setidFile, 'Flowers-102');

    const allLabels = matNumbers(matVariable(readMat(labelsFile), 'labels', labelsFile), `${labelsFile}: labels`);
    // Every class has images, so no label exceeds the number of images (a corrupt one must not make millions of classes).
    allLabels.forEach((y, i) => {
      if (!Number.isInteger(y) || y < 1 || y > allLabels.length) {
        throw new Error(`${labelsFile}: labels(${i + 1}) = ${y} out of range, expected an integer in 1..${allLabels.length} (the number of images)`);
      }
    });
    const numClasses = allLabels.reduce((a, b) => Math.max(a, b), 0);
    this.classes = Array.from({ length: numClasses }, (_, k) => String(k + 1));

    const setid = readMat(setidFile);
    const ids = SPLIT_VARIABLES[split].flatMap((name) => matNumbers(matVariable(setid, name, setidFile), `${setidFile}: ${name}`));
    this.paths = [];
    const labels: number[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 1 || id > allLabels.length) {
        throw new Error(`${setidFile}: image id ${id} out of range, expected 1..${allLabels.length} (the images in ${labelsFile})`);
      }
      this.paths.push(join(root, 'jpg', `image_${String(id).padStart(5, '0')}.jpg`));
      labels.push(allLabels[id - 1] - 1);
    }
    this.labels = Int32Array.from(labels);
  }

}
