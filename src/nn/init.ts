// Initialisation schemes, as in torch.nn.init: each fills a tensor in place, without
// recording gradients, and returns it. Same formulas and generator calls as PyTorch, so
// the same seed gives the same weights.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';
export type FanMode = 'fan_in' | 'fan_out';

/** The gain that keeps activations' variance stable through a nonlinearity. */
export function calculateGain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  switch (nonlinearity) {
    case 'linear': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5.0 / 3;
    case 'relu': return Math.sqrt(2.0);
    case 'leaky_relu': return Math.sqrt(2.0 / (1 + negativeSlope ** 2));
    case 'selu': return 3.0 / 4;
  }
}

/** [fan_in, fan_out] of a weight [out, in, ...kernel]. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`fan in and fan out need a tensor of at least 2 dimensions, got shape [${s.join(', ')}]`);
  const receptiveField = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1] * receptiveField, s[0] * receptiveField];
}

const fan = (t: Tensor, mode: FanMode): number => calculateFanInAndFanOut(t)[mode === 'fan_in' ? 0 : 1];

export const uniform_ = <T extends Tensor>(t: T, a = 0, b = 1): T => torch.noGrad(() => t.uniform_(a, b));
export const normal_ = <T extends Tensor>(t: T, mean = 0, std = 1): T => torch.noGrad(() => t.normal_(mean, std));
export const constant_ = <T extends Tensor>(t: T, value: number): T => torch.noGrad(() => t.fill_(value));
export const ones_ = <T extends Tensor>(t: T): T => constant_(t, 1);
export const zeros_ = <T extends Tensor>(t: T): T => torch.noGrad(() => t.zero_());

/** Glorot & Bengio (2010): uniform on ±gain·√(6 / (fan_in + fan_out)). */
export function xavierUniform_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a);
}

export function xavierNormal_<T extends Tensor>(t: T, gain = 1): T {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2.0 / (fanIn + fanOut)));
}

export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (0 for ReLU). */
  a?: number;
  /** fan_in keeps the forward pass's variance, fan_out the backward pass's. */
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** He et al. (2015): std = gain / √fan. */
function kaimingStd(t: Tensor, { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' }: KaimingOptions): number {
  return calculateGain(nonlinearity, a) / Math.sqrt(fan(t, mode));
}

/** Uniform on ±√3·std (std as for kaimingNormal_). */
export function kaimingUniform_<T extends Tensor>(t: T, o: KaimingOptions = {}): T {
  if (t.numel === 0) return t;
  const bound = Math.sqrt(3.0) * kaimingStd(t, o);
  return uniform_(t, -bound, bound);
}

/** Normal with mean 0 and std gain/√fan; torchvision's ResNets use {mode: 'fan_out', nonlinearity: 'relu'}. */
export function kaimingNormal_<T extends Tensor>(t: T, o: KaimingOptions = {}): T {
  if (t.numel === 0) return t;
  return normal_(t, 0, kaimingStd(t, o));
}
