// Test classes matched to training classes by name, for every dataset format whose splits carry
// their own class lists (image folders, Decathlon categories, list files), on generated files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openTask } from '../../src/train/task.js';
import { tempDir, writeImage, writeText } from './util.js';

async function folder(root: string, split: string, classes: string[]): Promise<void> {
  for (const [k, c] of classes.entries()) for (const i of [0, 1]) await writeImage(join(root, split, c, `${i}.png`), 8, 8, k);
}

describe('imagefolder', () => {
  it('test {cat, emu} against train {cat, dog, emu}: emu images keep label 2, dog is reported', async () => {
    const root = tempDir();
    await folder(root, 'train', ['cat', 'dog', 'emu']);
    await folder(root, 'val', ['cat', 'emu']);
    const task = openTask({ data: `imagefolder:${root}`, seed: 0 });
    assert.deepEqual(task.test.classes, ['cat', 'dog', 'emu']);
    assert.deepEqual([...task.test.labels], [0, 0, 2, 2]);
    const s = task.test.get(2);
    assert.ok(s.kind === 'file' && s.path === join(root, 'val', 'emu', '0.png'));
    assert.deepEqual(task.warnings, [`--data imagefolder:${root}: training class "dog" has no test images: test accuracy is over the other 2 classes`]);
  });

  it('a test class that train/ lacks is an error naming it, before any training', async () => {
    const root = tempDir();
    await folder(root, 'train', ['cat', 'dog']);
    await folder(root, 'test', ['bird', 'cat', 'dog', 'yak']);
    assert.throws(
      () => openTask({ data: `imagefolder:${root}`, seed: 0 }),
      { message: `--data imagefolder:${root}: test classes "bird", "yak" (4 images) are not among the training classes ("cat", "dog"): a network cannot predict a class it was not trained on; add training images of it, or remove it from the test set` },
    );
  });

  it('the same classes in both: the test set is unchanged, no warning', async () => {
    const root = tempDir();
    await folder(root, 'train', ['a', 'b']);
    await folder(root, 'val', ['a', 'b']);
    const task = openTask({ data: `imagefolder:${root}`, seed: 0 });
    assert.deepEqual([...task.test.labels], [0, 0, 1, 1]);
    assert.deepEqual(task.warnings, []);
  });
});

describe('decathlon', () => {
  const coco = (categories: [number, string][], images: [string, number][]) => JSON.stringify({
    categories: categories.map(([id, name]) => ({ id, name })),
    images: images.map(([file_name], k) => ({ id: k + 1, file_name })),
    annotations: images.map(([, category_id], k) => ({ image_id: k + 1, category_id })),
  });

  it('val categories with other ids and order are matched by name', async () => {
    const root = tempDir();
    for (const f of ['t0.png', 't1.png', 't2.png', 'v0.png', 'v1.png']) await writeImage(join(root, 'img', f), 8, 8);
    writeText(join(root, 'annotations', 'toy_train.json'), coco([[1, 'ant'], [2, 'bee'], [3, 'cow']], [['img/t0.png', 1], ['img/t1.png', 2], ['img/t2.png', 3]]));
    writeText(join(root, 'annotations', 'toy_val.json'), coco([[10, 'cow'], [11, 'ant']], [['img/v0.png', 10], ['img/v1.png', 11]]));
    const task = openTask({ data: `decathlon:${root}:toy`, seed: 0 });
    assert.deepEqual(task.test.classes, ['ant', 'bee', 'cow']);
    assert.deepEqual([...task.test.labels], [2, 0], 'cow → 2, ant → 0 (by position they would be 0 and 1)');
    assert.match(task.warnings[0], /training class "bee" has no test images/);

    writeText(join(root, 'annotations', 'toy_val.json'), coco([[1, 'ant'], [2, 'gnu']], [['img/v0.png', 2]]));
    assert.throws(() => openTask({ data: `decathlon:${root}:toy`, seed: 0 }), /test class "gnu" \(1 image\) is not among the training classes \("ant", "bee", "cow"\)/);
  });
});

describe('list', () => {
  it('labels are class names: a test label the training list lacks is named; one without test images is reported', async () => {
    const root = tempDir();
    for (const f of ['a.png', 'b.png', 'c.png']) await writeImage(join(root, f), 8, 8);
    writeText(join(root, 'train.txt'), 'a.png 0\nb.png 1\nc.png 2\n');
    writeText(join(root, 'test.txt'), 'c.png 2\na.png 0\n');
    const task = openTask({ data: `list:${root}:${join(root, 'train.txt')}:${join(root, 'test.txt')}`, seed: 0 });
    assert.deepEqual([...task.test.labels], [2, 0]);
    assert.match(task.warnings[0], /training class "1" has no test images: test accuracy is over the other 2 classes/);
    writeText(join(root, 'test.txt'), 'c.png 2\na.png 7\n');
    assert.throws(() => openTask({ data: `list:${root}:${join(root, 'train.txt')}:${join(root, 'test.txt')}`, seed: 0 }), /test class "7" \(1 image\) is not among the training classes \("0", "1", "2"\)/);
  });
});
