// The data layer: datasets (on-disk formats), transforms, loader. Plain typed arrays only;
// the training engine turns batches into tensors.
export { type Dataset, type Image, type Sample, describeSample } from './dataset.js';
export { matchClasses, listNames, Relabelled, type ClassMatch } from './classes.js';
export { Subset, trainValSplit, samplesPerClass } from './subset.js';

export { ImageFolder } from './image_folder.js';
export { ImageList, type ImageListOptions } from './image_list.js';
export { Cub200, type CubOptions } from './cub.js';
export { Flowers102, type FlowersSplit } from './flowers.js';
export { StanfordCars } from './cars.js';
export { Decathlon, type DecathlonOptions } from './decathlon.js';
export {
  IdxDataset,
  type IdxOptions,
  readIdx,
  idxFolder,
  fashionMnist,
  mnist,
  FASHION_MNIST_ROOT,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
} from './idx.js';
export { UciDigits, UCI_DIGITS_FILE } from './digits.js';
export { FontGlyphs, type FontGlyphsOptions, fontFilesUnder, FONT_ROOT, GLYPH_LETTERS, GLYPH_SETS } from './glyphs.js';
export { GeneratedImages, type Generator, type GeneratedOptions } from './generated.js';
export { shapes, SHAPE_CLASSES } from './shapes.js';
export { textures, TEXTURE_CLASSES } from './textures.js';
export { fractals, type FractalOptions } from './fractals.js';
export { readMat, parseMat, matNumbers, matScalar, matString, matStrings, matVariable, type MatValue } from './mat.js';
export {
  type Chw,
  type ImageTransform,
  type Pipeline,
  type ComposeOptions,
  BadImageError,
  IMAGENET_MEAN,
  IMAGENET_STD,
  compose,
  decode,
  convertChannels,
  crop,
  resize,
  centerCrop,
  randomCrop,
  randomResizedCrop,
  hflip,
  randomHorizontalFlip,
  toChw,
} from './transforms.js';
export { DataLoader, type Batch, type LoaderOptions } from './loader.js';
