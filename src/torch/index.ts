// The tensor API: `import * as torch from 'spottune/torch'` reads like PyTorch.
export * from './ops.js';
export { Tensor, tensor, fromBytes, type TensorInit } from './tensor.js';
export { type DType, isFloating, dtypeSize } from './dtype.js';
export { tidy, keep, dispose, memory, emptyCache, type MemoryInfo } from './scope.js';
export { checkDevice, cudaBuilt, toDeviceAsync } from './device.js';
export { spotTuneMix, sgdUpdate_, type SgdStep } from './kernels.js';
export { autocast, autocastDtype, type AutocastOptions, type LowPrecision } from './autocast.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd.js';
export { manualSeed, getRngState, setRngState } from './random.js';
export { setNumThreads, getNumThreads, cudaDeviceCount, cudaIsAvailable, libtorchVersion } from './runtime.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
