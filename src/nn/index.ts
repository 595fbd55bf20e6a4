// Neural-network building blocks: `import * as nn from 'spottune/nn'` reads like torch.nn.
export { Module, type AnyModule, type LoadResult } from './module.js';
export { Parameter, emptyParameter, type FactoryOptions } from './parameter.js';
export { Conv2d, type Conv2dOptions, type Pair } from './conv.js';
export { Linear, Identity, type LinearOptions } from './linear.js';
export { BatchNorm2d, type BatchNormOptions } from './batchnorm.js';
export { ReLU } from './activation.js';
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dOptions, type AvgPool2dOptions } from './pooling.js';
export { Dropout } from './dropout.js';
export { Flatten } from './flatten.js';
export { Sequential, type TensorModule } from './container.js';
export * as init from './init.js';
