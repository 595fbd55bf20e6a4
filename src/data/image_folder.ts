// torchvision's ImageFolder: root/<class>/**/<image>, classes are the sorted folder names.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileDataset } from './dataset.js';
import { IMAGE_EXTENSIONS, isImageFile } from './files.js';

export class ImageFolder extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];

  constructor(readonly root: string) {
    super();
    let entries: string[];
    try {
      entries = readdirSync(root).sort();
    } catch (e) {
      throw new Error(`ImageFolder: cannot read root folder ${root}: ${(e as Error).message}`);
    }
    this.classes = entries.filter((name) => statSync(join(root, name)).isDirectory());
    if (this.classes.length === 0) throw new Error(`ImageFolder: no class folders in ${root}`);
    this.paths = [];
    const labels: number[] = [];
    this.classes.forEach((name, label) => {
      const files = imagesUnder(join(root, name));
      if (files.length === 0) {
        throw new Error(`ImageFolder: class folder ${join(root, name)} has no images (extensions: ${IMAGE_EXTENSIONS.join(' ')})`);
      }
      for (const f of files) {
        this.paths.push(f);
        labels.push(label);
      }
    });
    this.labels = Int32Array.from(labels);
  }

}

/** Image files under a folder, in torchvision's order: sorted(os.walk(dir)), then sorted names. */
function imagesUnder(dir: string): string[] {
  const folders: { dir: string; files: string[] }[] = [];
  const walk = (d: string): void => {
    const files: string[] = [];
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (isImageFile(name)) files.push(p);
    }
    folders.push({ dir: d, files: files.sort() });
  };
  walk(dir);
  folders.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  return folders.flatMap((f) => f.files);
}
