// A task: the datasets of a run (train and test), their class count and image format, and
// the transforms that go with them, opened from a short spec:
//   fashion-mnist | mnist:<root> | digits | glyphs[:<set>] | shapes | textures | fractals
//   imagefolder:<root> (train/ and val/ or test/)
//   cub:<root> | flowers:<root> | cars:<root> | decathlon:<root>:<name> | list:<root>:<train.txt>:<test.txt>
// Small grey datasets are 28×28, one channel, normalised with mean 0.5, std 0.5, and trained
// with random crops (no flips: a flipped letter or digit is another symbol). Natural-image
// datasets use torchvision's ImageNet recipe at the given size. Channels, size, mean and std can
// be set (from a source model's record, or flags: see preprocessing.ts); the task's
// `preprocessing` records what it does.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  Cub200, Decathlon, Flowers102, FontGlyphs, GLYPH_SETS, ImageFolder, ImageList, StanfordCars, UciDigits, fashionMnist, mnist, samplesPerClass, trainValSplit,
  fractals, shapes, textures, type Dataset,
} from '../data/index.js';
import { IMAGENET_MEAN, IMAGENET_STD, centerCrop, compose, randomCrop, randomHorizontalFlip, randomResizedCrop, resize, type Pipeline } from '../data/transforms.js';
import { FASHION_MNIST_ROOT } from '../data/idx.js';
import { listNames, matchClasses } from '../data/classes.js';
import { UCI_DIGITS_FILE } from '../data/digits.js';
import { checkStats, type InputSettings, type Preprocessing } from './preprocessing.js';

export interface TaskSpec {
  /** The dataset, as above. */
  data: string;
  /** Low-data setting: this many labelled training images per class (seeded). */
  perClass?: number;
  /** Seeds the low-data subset and the splits of datasets that have none. */
  seed: number;
  /** Side of the images the network sees (default: 28 for the grey datasets, 224 for natural images, 64 for the Decathlon). */
  imageSize?: number;
  /** Channels, mean and std other than the dataset's defaults (e.g. those of the source model). */
  input?: Omit<InputSettings, 'imageSize'>;
  /** Cache folder for rendered datasets (glyphs). */
  cacheDir?: string;
}

export interface Task {
  name: string;
  train: Dataset;
  test: Dataset;
  classes: string[];
  channels: 1 | 3;
  trainTransform: Pipeline;
  evalTransform: Pipeline;
  /** For images from elsewhere (spottune predict): resized and cropped to what the network expects. */
  fileTransform: Pipeline;
  /** What the user should know before training (e.g. training classes without test images). */
  warnings: string[];
  /** What the network expects of its input: recorded with the model. */
  preprocessing: Preprocessing;
}

/** Channels, size, mean and std: the spec's where given, else the dataset's defaults. */
function settings(spec: TaskSpec, defaults: Required<InputSettings>): Required<InputSettings> {
  const channels = spec.input?.channels ?? defaults.channels;
  // Defaults of the other channel count: grey from the RGB statistics' average, RGB by repeating grey's.
  const fit = (v: number[]) => (v.length === 1 || v.length === channels ? v : [Number((v.reduce((a, b) => a + b, 0) / v.length).toFixed(3))]);
  const out = { channels, imageSize: spec.imageSize ?? defaults.imageSize, mean: spec.input?.mean ?? fit(defaults.mean), std: spec.input?.std ?? fit(defaults.std) };
  for (const what of ['mean', 'std'] as const) {
    checkStats(out[what], channels, what, (expected) => {
      throw new Error(`--${what} ${out[what].join(',')}: expected ${expected} for ${channels}-channel input`);
    });
  }
  return out;
}

function greyTask(name: string, train: Dataset, test: Dataset, spec: TaskSpec, nativeSize = 28): Task {
  const input = settings(spec, { channels: 1, imageSize: 28, mean: [0.5], std: [0.5] });
  const size = input.imageSize;
  const norm = { channels: input.channels, mean: input.mean, std: input.std };
  const fit = nativeSize !== size ? [resize(size)] : [];
  return {
    name, train, test, classes: train.classes, channels: input.channels, warnings: [],
    trainTransform: compose({ ...norm, steps: [...fit, randomCrop(size, { padding: 2 })] }),
    evalTransform: compose({ ...norm, steps: fit }),
    fileTransform: compose({ ...norm, steps: [resize(size), centerCrop(size)] }),
    preprocessing: { ...input, resize: size, train: `${fit.length ? `Resize(${size}), ` : ''}RandomCrop(${size}, padding=2)`, classes: train.classes },
  };
}

function naturalTask(name: string, train: Dataset, test: Dataset, spec: TaskSpec, defaultSize = 224): Task {
  const input = settings(spec, { channels: 3, imageSize: defaultSize, mean: IMAGENET_MEAN, std: IMAGENET_STD });
  const size = input.imageSize;
  const norm = { channels: input.channels, mean: input.mean, std: input.std };
  const side = Math.round((size * 256) / 224);
  return {
    name, train, test, classes: train.classes, channels: input.channels, warnings: [],
    trainTransform: compose({ ...norm, steps: [randomResizedCrop(size), randomHorizontalFlip()] }),
    evalTransform: compose({ ...norm, steps: [resize(side), centerCrop(size)] }),
    fileTransform: compose({ ...norm, steps: [resize(side), centerCrop(size)] }),
    preprocessing: { ...input, resize: side, train: `RandomResizedCrop(${size}), RandomHorizontalFlip()`, classes: train.classes },
  };
}

function need(path: string, what: string, fix: string): void {
  if (!existsSync(path)) throw new Error(`${what} not found: ${path}\n  ${fix}`);
}

/** Opens a task; errors name the missing file and the command that provides it. */
export function openTask(spec: TaskSpec): Task {
  const [kind, ...args] = spec.data.split(':');
  const arg = (i: number, what: string): string => {
    if (!args[i]) throw new Error(`--data ${spec.data}: missing ${what} (expected ${kind}:${['<root>', '<name>', '<test list>'].slice(0, i + 1).join(':')})`);
    return args[i];
  };
  let task: Task;
  switch (kind) {
    case 'fashion-mnist':
      need(join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz'), 'Fashion-MNIST', 'install it: apt-get install dataset-fashion-mnist');
      task = greyTask('fashion-mnist', fashionMnist({ split: 'train' }), fashionMnist({ split: 'test' }), spec);
      break;
    case 'mnist':
      task = greyTask('mnist', mnist({ split: 'train', root: arg(0, 'root') }), mnist({ split: 'test', root: arg(0, 'root') }), spec);
      break;
    case 'digits': {
      need(UCI_DIGITS_FILE, 'UCI digits', 'install it: apt-get install python3-sklearn');
      const split = trainValSplit(new UciDigits(), { valFraction: 0.5, seed: 0 });
      task = greyTask('digits', split.train, split.val, spec, 8);
      break;
    }
    case 'glyphs': {
      const set = args[0] ?? 'latin';
      const letters = GLYPH_SETS[set];
      if (letters === undefined) throw new Error(`--data ${spec.data}: unknown glyph set "${set}"; expected one of ${Object.keys(GLYPH_SETS).join(', ')}`);
      const o = { letters, cacheDir: spec.cacheDir };
      task = greyTask(args[0] ? `glyphs-${set}` : 'glyphs', new FontGlyphs({ ...o, split: 'train' }), new FontGlyphs({ ...o, split: 'test' }), spec);
      break;
    }
    case 'shapes':
    case 'textures':
    case 'fractals': {
      const make = { shapes, textures, fractals }[kind];
      const o = { seed: 0, cacheDir: spec.cacheDir };
      // Fractals are a pre-training source: a smaller test split is enough to watch it.
      task = greyTask(kind, make({ ...o, split: 'train' }), make({ ...o, split: 'test', perClass: kind === 'fractals' ? 20 : 100 }), spec);
      break;
    }
    case 'imagefolder': {
      const root = arg(0, 'root');
      const testDir = ['val', 'test'].map((d) => join(root, d)).find((d) => existsSync(d));
      need(join(root, 'train'), 'train folder', `${root} must hold train/ and val/ (or test/), a folder per class in each`);
      if (!testDir) throw new Error(`imagefolder:${root}: no val/ or test/ folder beside train/`);
      task = naturalTask('imagefolder', new ImageFolder(join(root, 'train')), new ImageFolder(testDir), spec);
      break;
    }
    case 'cub':
      task = naturalTask('cub', new Cub200({ root: arg(0, 'root'), split: 'train' }), new Cub200({ root: arg(0, 'root'), split: 'test' }), spec);
      break;
    case 'flowers':
      task = naturalTask('flowers', new Flowers102({ root: arg(0, 'root'), split: 'trainval' }), new Flowers102({ root: arg(0, 'root'), split: 'test' }), spec);
      break;
    case 'cars':
      task = naturalTask('cars', new StanfordCars({ root: arg(0, 'root'), split: 'train' }), new StanfordCars({ root: arg(0, 'root'), split: 'test' }), spec);
      break;
    case 'decathlon': {
      const o = { root: arg(0, 'root'), name: arg(1, 'name') };
      // The Decathlon's test labels are private: its val split is the test set here.
      task = naturalTask(`decathlon-${o.name}`, new Decathlon({ ...o, split: 'train' }), new Decathlon({ ...o, split: 'val' }), spec, 64);
      break;
    }
    case 'list': {
      const root = arg(0, 'root');
      const train = new ImageList({ root, list: arg(1, 'train list') });
      task = naturalTask('list', train, new ImageList({ root, list: arg(2, 'test list') }), spec);
      break;
    }
    default:
      throw new Error(`unknown dataset "${spec.data}"; expected fashion-mnist, mnist:<root>, digits, glyphs[:<set>], shapes, textures, fractals, imagefolder:<root>, cub:<root>, flowers:<root>, cars:<root>, decathlon:<root>:<name> or list:<root>:<train>:<test>`);
  }
  // Test labels by class name, not position (see data/classes.ts).
  const { test, absent } = matchClasses(task.train, task.test, `--data ${spec.data}`);
  task.test = test;
  if (absent.length > 0) {
    task.warnings.push(`--data ${spec.data}: training class${absent.length > 1 ? 'es' : ''} ${listNames(absent)} ${absent.length > 1 ? 'have' : 'has'} no test images: test accuracy is over the other ${task.classes.length - absent.length} classes`);
  }
  if (spec.perClass !== undefined) task.train = samplesPerClass(task.train, { perClass: spec.perClass, seed: spec.seed });
  return task;
}
