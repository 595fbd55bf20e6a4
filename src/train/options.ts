// The training settings of a run, declared once each (see src/util/options.ts): config.json's
// fields, the flags of `train` and `pretrain`, and the sweep file's fields come from here. The
// options of each method are declared with the method (src/spottune/methods.ts).
import { choice, flag, integer, integers, matching, number, numberList, text, type OptionValues } from '../util/options.js';
import { ARCHS } from '../models/index.js';
import { METHODS } from '../spottune/index.js';

export const TRAIN_OPTIONS = {
  method: choice(METHODS, { help: 'the method: SpotTune or a baseline (see: spottune methods)', arg: '<name>' }),
  arch: choice(ARCHS, { default: 'resnet26', help: 'resnet18|34|50|101|152 (torchvision) or resnet26|38 (Rebuffi)', arg: '<name>' }),
  width: number({ above: 0, max: 64, help: 'channel multiplier of resnet26/38' }),
  weights: text({ help: 'pre-trained source weights (.pth from torch.save, or .safetensors)', arg: '<file>' }),
  deeperArch: choice(ARCHS, { help: 'architecture of finetune-deeper', arg: '<name>' }),
  deeperWeights: text({ help: 'weights of finetune-deeper', arg: '<file>' }),
  data: text({ help: 'fashion-mnist, digits, glyphs[:latin,greek,cyrillic,hebrew,georgian,math,source], shapes, textures, fractals, imagefolder:<root>, cub:<root>, flowers:<root>, cars:<root>, decathlon:<root>:<name>, list:<root>:<train>:<test>', arg: '<spec>' }),
  perClass: integer({ min: 1, help: 'low-data setting: n labelled training images per class' }),
  imageSize: integer({ min: 1, max: 4096, help: 'input side (default: the source model\'s, else 28 for grey datasets, 224 for natural images)' }),
  channels: integer({ values: [1, 3], help: 'input channels (default: the source model\'s, else the dataset\'s)' }),
  mean: numberList({ lengths: [1, 3], help: 'normalisation mean per channel, e.g. 0.5 (default: the source model\'s, else the dataset\'s)' }),
  std: numberList({ lengths: [1, 3], above: 0, help: 'normalisation std per channel (default: the source model\'s, else the dataset\'s)' }),
  epochs: integer({ min: 1, default: 30, help: 'epochs' }),
  batchSize: integer({ min: 1, default: 64, help: 'batch size (the global batch in data-parallel runs)' }),
  lr: number({ min: 0, default: 0.1, help: 'learning rate of the network (reference: 0.1)' }),
  lrAgent: number({ min: 0, default: 0.01, help: 'learning rate of the policy network (reference: 0.01)' }),
  momentum: number({ min: 0, default: 0.9, help: 'SGD momentum' }),
  weightDecay: number({ min: 0, default: 5e-4, help: 'weight decay of the network' }),
  weightDecayAgent: number({ min: 0, default: 1e-3, help: 'weight decay of the policy network' }),
  schedule: choice(['multistep', 'cosine', 'constant'], { default: 'multistep', help: 'learning-rate schedule: multistep, cosine or constant' }),
  milestones: integers({ min: 1, help: 'multistep epochs (default: the reference code\'s 40/60/80 of 110, scaled to --epochs; none for other schedules)' }),
  gamma: number({ min: 0, default: 0.1, help: 'multistep factor' }),
  warmupEpochs: integer({ min: 0, default: 0, help: 'linear warm-up epochs' }),
  labelSmoothing: number({ min: 0, max: 1, default: 0, help: 'cross-entropy label smoothing' }),
  seed: integer({ default: 0, help: 'seed of initialisation, data order, augmentation and sampling' }),
  evalEvery: integer({ min: 1, default: 1, help: 'evaluate on the test set every n epochs (and after the last)' }),
  skipNonFinite: flag({ help: 'skip batches whose loss is NaN/Inf instead of stopping', flag: '--skip-nonfinite' }),
  accumSteps: integer({ min: 1, default: 1, help: 'gradient accumulation: one optimizer step per n batches (effective batch n × --batch-size)' }),
  lrBackbone: number({ min: 0, help: 'learning rate of every layer below the head (TLlib: 0.1 × --lr); SpotTune: the fine-tuned branch (default: --lr)' }),
  layerDecay: number({ above: 0, max: 1, help: 'layer-wise learning-rate decay: lr × d^(depth from the head) per block (timm)', arg: '<d>' }),
  ema: number({ min: 0, below: 1, expected: 'a decay in [0, 1)', help: 'keep an exponential moving average of the weights (e.g. 0.9998), evaluated and saved as ema.pth', arg: '<decay>' }),
  patience: integer({ min: 1, help: 'stop when the test accuracy has not improved for this many epochs', arg: '<epochs>' }),
  tensorboard: flag({ help: 'write TensorBoard event files to <output>/tb' }),
  device: matching({ pattern: /^(cpu|cuda(:\d+)?)$/, expected: 'cpu, cuda or cuda:N', default: 'cpu', help: 'where the model trains and evaluates: cpu, cuda or cuda:N (a run may resume on another device)', arg: '<device>' }),
  precision: choice(['fp32', 'bf16', 'fp16'], { default: 'fp32', help: 'fp32, or autocast: bf16, fp16 (GPU, with loss scaling)', arg: '<p>' }),
  workers: integer({ min: 0, max: 256, default: 0, help: 'worker threads that decode and augment the batches, beside libuv\'s decoding threads (0: the main thread); the batches are the same for any number', arg: '<n>' }),
  skipBadImages: flag({ help: 'skip and count image files that cannot be read instead of stopping (list them first: spottune check-data)' }),
};

export type TrainSettings = OptionValues<typeof TRAIN_OPTIONS>;
