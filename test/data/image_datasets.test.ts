// Each file-based format on a small tree in the real layout, made in a temporary folder.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StanfordCars } from '../../src/data/cars.js';
import { Cub200 } from '../../src/data/cub.js';
import type { Dataset } from '../../src/data/dataset.js';
import { Decathlon } from '../../src/data/decathlon.js';
import { Flowers102 } from '../../src/data/flowers.js';
import { ImageFolder } from '../../src/data/image_folder.js';
import { ImageList } from '../../src/data/image_list.js';
import { FIXTURES, tempDir, writeImage, writeText } from './util.js';

function paths(ds: Dataset): string[] {
  return Array.from({ length: ds.length }, (_, i) => {
    const s = ds.get(i);
    assert.ok(s.kind === 'file');
    return s.path;
  });
}

describe('ImageFolder', () => {
  it('sorts classes and files like torchvision, recursing into subfolders', async () => {
    const root = tempDir();
    await writeImage(join(root, 'zebra', 'b.png'));
    await writeImage(join(root, 'zebra', 'a.jpg'));
    await writeImage(join(root, 'ant', 'x.JPEG'));
    await writeImage(join(root, 'ant', 'sub', 'y.webp'));
    writeText(join(root, 'ant', 'notes.txt'), 'not an image');
    writeText(join(root, 'README'), 'a file beside the class folders');
    const ds = new ImageFolder(root);
    assert.deepEqual(ds.classes, ['ant', 'zebra']);
    assert.deepEqual(paths(ds), [join(root, 'ant/x.JPEG'), join(root, 'ant/sub/y.webp'), join(root, 'zebra/a.jpg'), join(root, 'zebra/b.png')]);
    assert.deepEqual([...ds.labels], [0, 0, 1, 1]);
    assert.throws(() => ds.get(4), /out of range/);
  });

  it('rejects an empty class folder, naming it', async () => {
    const root = tempDir();
    await writeImage(join(root, 'cat', 'a.jpg'));
    mkdirSync(join(root, 'dog'));
    writeText(join(root, 'dog', 'readme.txt'), 'no images here');
    assert.throws(() => new ImageFolder(root), new RegExp(`class folder ${join(root, 'dog')} has no images`));
    assert.throws(() => new ImageFolder(join(root, 'missing')), /cannot read root folder/);
  });
});

describe('ImageList', () => {
  it('reads `path label` lines relative to the root', () => {
    const root = tempDir();
    writeText(join(root, 'image_list', 'train.txt'), 'images/a.jpg 0\n\nimages/with space.jpg 2\r\nimages/b.jpg 1\n');
    const ds = new ImageList({ root, list: join(root, 'image_list', 'train.txt') });
    assert.deepEqual(paths(ds), [join(root, 'images/a.jpg'), join(root, 'images/with space.jpg'), join(root, 'images/b.jpg')]);
    assert.deepEqual([...ds.labels], [0, 2, 1]);
    assert.deepEqual(ds.classes, ['0', '1', '2']);
    const named = new ImageList({ root, list: join(root, 'image_list', 'train.txt'), classes: ['x', 'y', 'z'] });
    assert.deepEqual(named.classes, ['x', 'y', 'z']);
  });

  it('rejects labels out of range, bad labels and a missing list, naming file and line', () => {
    const root = tempDir();
    const list = join(root, 'list.txt');
    writeText(list, 'a.jpg 0\nb.jpg 5\n');
    assert.throws(() => new ImageList({ root, list, classes: ['x', 'y'] }), new RegExp(`${list}:2: label 5 out of range`));
    writeText(list, 'a.jpg zero\n');
    assert.throws(() => new ImageList({ root, list }), new RegExp(`${list}:1: label must be an integer, got 'zero'`));
    writeText(list, 'a.jpg -1\n');
    assert.throws(() => new ImageList({ root, list }), /label -1 out of range/);
    assert.throws(() => new ImageList({ root, list: join(root, 'nope.txt') }), /missing annotation file .*nope\.txt/);
  });
});

/** A CUB_200_2011 folder with 3 classes and 6 images (ids 1–6; 1, 3, 5 for training). */
async function cubTree(): Promise<string> {
  const root = tempDir();
  const names = ['001.Black_footed_Albatross', '002.Laysan_Albatross', '003.Sooty_Albatross'];
  writeText(join(root, 'classes.txt'), names.map((n, k) => `${k + 1} ${n}\n`).join(''));
  const images = [1, 2, 3, 4, 5, 6].map((id) => ({ id, cls: ((id - 1) % 3) + 1, path: `${names[(id - 1) % 3]}/img_${id}.jpg` }));
  writeText(join(root, 'images.txt'), images.map((m) => `${m.id} ${m.path}\n`).join(''));
  writeText(join(root, 'image_class_labels.txt'), images.map((m) => `${m.id} ${m.cls}\n`).join(''));
  writeText(join(root, 'train_test_split.txt'), images.map((m) => `${m.id} ${m.id % 2}\n`).join(''));
  for (const m of images) await writeImage(join(root, 'images', m.path), 8, 8, m.id);
  return root;
}

describe('Cub200', () => {
  it('reads the official split, classes and labels', async () => {
    const root = await cubTree();
    const train = new Cub200({ root, split: 'train' });
    const test = new Cub200({ root, split: 'test' });
    assert.equal(train.classes[2], '003.Sooty_Albatross');
    assert.deepEqual([...train.labels], [0, 2, 1]);
    assert.deepEqual([...test.labels], [1, 0, 2]);
    assert.equal(paths(train)[0], join(root, 'images', '001.Black_footed_Albatross/img_1.jpg'));
  });

  it('rejects a class id out of range and a missing annotation file', async () => {
    const root = await cubTree();
    writeText(join(root, 'image_class_labels.txt'), '1 1\n2 2\n3 4\n4 1\n5 2\n6 3\n');
    assert.throws(() => new Cub200({ root, split: 'train' }), /image_class_labels\.txt:3: class_id 4 out of range, expected 1\.\.3/);
    rmSync(join(root, 'train_test_split.txt'));
    assert.throws(() => new Cub200({ root, split: 'train' }), /CUB-200-2011: missing annotation file .*train_test_split\.txt/);
  });
});

async function flowersTree(labelsFixture = 'flowers'): Promise<string> {
  const root = tempDir();
  cpSync(join(FIXTURES, 'flowers', 'setid.mat'), join(root, 'setid.mat'));
  cpSync(join(FIXTURES, labelsFixture, 'imagelabels.mat'), join(root, 'imagelabels.mat'));
  for (let id = 1; id <= 12; id++) await writeImage(join(root, 'jpg', `image_${String(id).padStart(5, '0')}.jpg`), 8, 8, id);
  return root;
}

describe('Flowers102', () => {
  it('reads imagelabels.mat and setid.mat', async () => {
    const root = await flowersTree();
    const train = new Flowers102({ root, split: 'train' });
    assert.deepEqual(train.classes, ['1', '2', '3']);
    assert.deepEqual(paths(train), [1, 5, 9].map((id) => join(root, 'jpg', `image_0000${id}.jpg`)));
    assert.deepEqual([...train.labels], [0, 1, 2]);
    assert.equal(new Flowers102({ root, split: 'val' }).length, 3);
    assert.deepEqual([...new Flowers102({ root, split: 'test' }).labels], [0, 0, 1, 1, 2, 2]);
    assert.deepEqual([...new Flowers102({ root, split: 'trainval' }).labels], [0, 1, 2, 0, 1, 2]);
  });

  it('rejects a label out of range and a missing .mat file', async () => {
    const bad = await flowersTree('flowers_bad_label');
    assert.throws(() => new Flowers102({ root: bad, split: 'train' }), /imagelabels\.mat: labels\(5\) = 0 out of range/);
    const root = await flowersTree();
    rmSync(join(root, 'setid.mat'));
    assert.throws(() => new Flowers102({ root, split: 'train' }), /Flowers-102: missing annotation file .*setid\.mat/);
  });
});

async function carsTree(): Promise<string> {
  const root = tempDir();
  cpSync(join(FIXTURES, 'cars'), root, { recursive: true });
  for (let k = 1; k <= 4; k++) await writeImage(join(root, 'cars_train', `0000${k}.jpg`), 8, 8, k);
  for (let k = 1; k <= 2; k++) await writeImage(join(root, 'cars_test', `0000${k}.jpg`), 8, 8, k);
  return root;
}

describe('StanfordCars', () => {
  it('reads the devkit struct arrays and class names', async () => {
    const root = await carsTree();
    const train = new StanfordCars({ root, split: 'train' });
    assert.deepEqual(train.classes, ['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Acura TL Sedan 2012']);
    assert.deepEqual([...train.labels], [0, 1, 2, 0]);
    assert.deepEqual([...train.boxes.subarray(0, 8)], [1, 2, 30, 20, 3, 1, 28, 22]);
    assert.equal(paths(train)[3], join(root, 'cars_train', '00004.jpg'));
    const test = new StanfordCars({ root, split: 'test' });
    assert.deepEqual([...test.labels], [1, 2]);
    assert.equal(paths(test)[1], join(root, 'cars_test', '00002.jpg'));
  });

  it('rejects a class out of range and a missing annotation file', async () => {
    const root = await carsTree();
    cpSync(join(FIXTURES, 'cars_bad_label', 'devkit', 'cars_train_annos.mat'), join(root, 'devkit', 'cars_train_annos.mat'));
    assert.throws(() => new StanfordCars({ root, split: 'train' }), /cars_train_annos\.mat: annotations\(1\)\.class = 4 out of range, expected 1\.\.3/);
    rmSync(join(root, 'cars_test_annos_withlabels.mat'));
    assert.throws(() => new StanfordCars({ root, split: 'test' }), /missing annotation file cars_test_annos_withlabels\.mat/);
  });
});

describe('Decathlon', () => {
  function write(root: string, json: unknown): void {
    writeText(join(root, 'annotations', 'aircraft_train.json'), JSON.stringify(json));
  }
  const good = {
    images: [
      { id: 7, file_name: 'data/aircraft/train/b.jpg' },
      { id: 3, file_name: 'data/aircraft/train/a.jpg' },
    ],
    annotations: [
      { id: 1, image_id: 3, category_id: 10001 },
      { id: 2, image_id: 7, category_id: 10003 },
    ],
    categories: [
      { id: 10002, name: 'A320' },
      { id: 10001, name: '707-320' },
      { id: 10003, name: 'DC-3' },
    ],
  };

  it('maps category_id − min id to labels, keeping image order', () => {
    const root = tempDir();
    write(root, good);
    const ds = new Decathlon({ root, name: 'aircraft', split: 'train' });
    assert.deepEqual(ds.classes, ['707-320', 'A320', 'DC-3']);
    assert.deepEqual(paths(ds), [join(root, 'data/aircraft/train/b.jpg'), join(root, 'data/aircraft/train/a.jpg')]);
    assert.deepEqual([...ds.labels], [2, 0]);
  });

  it('rejects a category out of range, an unannotated image and a missing file', () => {
    const root = tempDir();
    write(root, { ...good, annotations: [{ image_id: 3, category_id: 10001 }, { image_id: 7, category_id: 10009 }] });
    assert.throws(() => new Decathlon({ root, name: 'aircraft', split: 'train' }), /annotations\[1\]\.category_id 10009 out of range, expected 10001\.\.10003/);
    write(root, { ...good, annotations: [{ image_id: 3, category_id: 10001 }] });
    assert.throws(() => new Decathlon({ root, name: 'aircraft', split: 'train' }), /image id 7 \(data\/aircraft\/train\/b\.jpg\) has no annotation/);
    assert.throws(() => new Decathlon({ root, name: 'aircraft', split: 'val' }), /missing annotation file .*aircraft_val\.json/);
    writeText(join(root, 'annotations', 'aircraft_val.json'), '{ not json');
    assert.throws(() => new Decathlon({ root, name: 'aircraft', split: 'val' }), /aircraft_val\.json: invalid JSON/);
  });
});
