// Visual Decathlon, as distributed: COCO-style annotations/<name>_<split>.json with
// images [{id, file_name}], annotations [{image_id, category_id}], categories [{id, name}];
// file_name is relative to the data root. As in the SpotTune reference code,
// label = category_id − min category_id. Images keep the order of the `images` array.
import { join } from 'node:path';
import { FileDataset } from './dataset.js';
import { readText } from './files.js';

export interface DecathlonOptions {
  /** The folder that file_name paths are relative to. */
  root: string;
  /** The domain, e.g. 'aircraft', 'cifar100', 'dtd', 'vgg-flowers'. */
  name: string;
  split: 'train' | 'val';
  /** Folder of the JSON files; default root/annotations. */
  annotations?: string;
}

interface CocoFile {
  images?: { id?: unknown; file_name?: unknown }[];
  annotations?: { image_id?: unknown; category_id?: unknown }[];
  categories?: { id?: unknown; name?: unknown }[];
}

export class Decathlon extends FileDataset {
  readonly classes: string[];
  readonly labels: Int32Array;
  readonly paths: string[];

  constructor(options: DecathlonOptions) {
    super();
    const { root, name, split } = options;
    const file = join(options.annotations ?? join(root, 'annotations'), `${name}_${split}.json`);
    let json: CocoFile;
    try {
      json = JSON.parse(readText(file, `Visual Decathlon (${name})`)) as CocoFile;
    } catch (e) {
      if (e instanceof SyntaxError) throw new Error(`${file}: invalid JSON: ${e.message}`);
      throw e;
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error(`${file}: expected a JSON object with 'images', 'annotations' and 'categories'`);
    }
    const list = <T>(key: keyof CocoFile): T[] => {
      const v = json[key];
      if (!Array.isArray(v)) throw new Error(`${file}: expected an array '${key}'`);
      v.forEach((e: unknown, k) => {
        if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new Error(`${file}: ${key}[${k}] must be an object, got ${Array.isArray(e) ? 'an array' : String(e).slice(0, 100)}`);
      });
      return v as T[];
    };
    const images = list<{ id?: unknown; file_name?: unknown }>('images');
    const annotations = list<{ image_id?: unknown; category_id?: unknown }>('annotations');
    const categories = list<{ id?: unknown; name?: unknown }>('categories');

    const int = (v: unknown, where: string): number => {
      if (!Number.isInteger(v)) throw new Error(`${file}: ${where} must be an integer, got ${typeof v === 'object' && v !== null ? (Array.isArray(v) ? 'an array' : 'an object') : JSON.stringify(v)?.slice(0, 100)}`);
      return v as number;
    };

    // Categories must be contiguous ids, so that id − min is a class index.
    const byId = new Map<number, string>();
    categories.forEach((c, k) => {
      const id = int(c.id, `categories[${k}].id`);
      byId.set(id, typeof c.name === 'string' ? c.name : String(id));
    });
    const ids = [...byId.keys()].sort((a, b) => a - b);
    if (ids.length === 0) throw new Error(`${file}: no categories`);
    const minId = ids[0];
    ids.forEach((id, k) => {
      if (id !== minId + k) throw new Error(`${file}: category ids must be contiguous from ${minId}, missing ${minId + k}`);
    });
    this.classes = ids.map((id) => byId.get(id)!);

    const labelOf = new Map<number, number>();
    annotations.forEach((a, k) => {
      const imageId = int(a.image_id, `annotations[${k}].image_id`);
      const categoryId = int(a.category_id, `annotations[${k}].category_id`);
      if (!byId.has(categoryId)) {
        throw new Error(`${file}: annotations[${k}].category_id ${categoryId} out of range, expected ${minId}..${minId + ids.length - 1}`);
      }
      if (labelOf.has(imageId)) throw new Error(`${file}: image id ${imageId} has more than one annotation`);
      labelOf.set(imageId, categoryId - minId);
    });

    this.paths = [];
    const labels: number[] = [];
    images.forEach((img, k) => {
      const id = int(img.id, `images[${k}].id`);
      if (typeof img.file_name !== 'string') throw new Error(`${file}: images[${k}].file_name must be a string`);
      const label = labelOf.get(id);
      if (label === undefined) throw new Error(`${file}: image id ${id} (${img.file_name}) has no annotation`);
      this.paths.push(join(root, img.file_name));
      labels.push(label);
    });
    this.labels = Int32Array.from(labels);
  }

}
