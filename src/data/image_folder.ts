// torchvision's ImageFolder: root/<class>/**/<image>, classes are the sorted folder names.
// Links are followed (as torchvision does); a link back to a folder being walked is an error,
// not an endless walk. Entries with an image name that cannot be followed (dangling links, link
// loops) are listed like the rest: reading them reports why (image_file.ts), so check-data
// finds them all and --skip-bad-images skips them.
import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
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
    this.classes = entries.filter((name) => statOrNull(join(root, name))?.isDirectory());
    if (this.classes.length === 0) throw new Error(`ImageFolder: no class folders in ${root}`);
    this.paths = [];
    const labels: number[] = [];
    this.classes.forEach((name, label) => {
      const files = imagesUnder(join(root, name), root);
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

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null; // a dangling link or a link loop: not a folder
  }
}

/** Image files under a folder, in torchvision's order: sorted(os.walk(dir)), then sorted names. */
function imagesUnder(dir: string, root: string): string[] {
  const folders: { dir: string; files: string[] }[] = [];
  const walking = new Map<string, string>(); // real path → the folder being walked there
  const walk = (d: string): void => {
    const real = realpathSync(d);
    const ancestor = walking.get(real);
    if (ancestor !== undefined) throw new Error(`ImageFolder ${root}: ${d} is a symbolic link loop (it leads back to ${ancestor}): remove the link`);
    walking.set(real, d);
    const files: string[] = [];
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (e) {
      throw new Error(`ImageFolder ${root}: cannot read folder ${d}: ${(e as Error).message}`);
    }
    for (const name of names) {
      const p = join(d, name);
      if (statOrNull(p)?.isDirectory()) walk(p);
      else if (isImageFile(name)) files.push(p);
    }
    walking.delete(real);
    folders.push({ dir: d, files: files.sort() });
  };
  walk(dir);
  folders.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  return folders.flatMap((f) => f.files);
}
