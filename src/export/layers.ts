// The nn layers as ONNX nodes, in evaluation mode. A batch norm that follows a convolution is
// folded into it (in float64, then rounded once to float32); one that does not becomes a
// BatchNormalization node. Weights are read from the live tensors.
import type { Tensor } from '../torch/index.js';
import type { AnyModule, Pair } from '../nn/index.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d } from '../nn/index.js';
import type { OnnxGraph } from './graph.js';

/** The graph being built, and each module's path in the exported model (for readable names). */
export interface Emitter {
  g: OnnxGraph;
  name(m: AnyModule): string;
}

/** Names every module of `root` by its state-dict path (e.g. net.layer1.0.conv1). */
export function emitter(g: OnnxGraph, root: AnyModule): Emitter {
  const names = new Map<AnyModule, string>();
  for (const [path, m] of root.namedModules()) if (!names.has(m)) names.set(m, path || 'model');
  return {
    g,
    name: (m) => {
      const n = names.get(m);
      if (n === undefined) throw new Error(`ONNX export: a ${m.constructor.name} is not part of the exported model`);
      return n;
    },
  };
}

function values(t: Tensor | undefined, what: string): Float32Array {
  if (!t) throw new Error(`ONNX export: ${what} is missing`);
  if (t.dtype !== 'float32') throw new Error(`ONNX export: ${what} is ${t.dtype}; only float32 models are exported`);
  return t.data() as Float32Array;
}

const pair = (x: Pair | undefined, fallback: Pair): [number, number] => {
  const v = x ?? fallback;
  return typeof v === 'number' ? [v, v] : v;
};

/** Per-channel scale and shift of a batch norm with running statistics: y = scale·x + shift. */
function bnAffine(bn: BatchNorm2d, where: string): { scale: Float64Array; shift: Float64Array } {
  const mean = values(bn.runningMean, `${where}.running_mean (batch norm without running statistics cannot be exported)`);
  const variance = values(bn.runningVar, `${where}.running_var`);
  const gamma = bn.weight ? values(bn.weight, `${where}.weight`) : undefined;
  const beta = bn.bias ? values(bn.bias, `${where}.bias`) : undefined;
  const scale = new Float64Array(bn.numFeatures);
  const shift = new Float64Array(bn.numFeatures);
  for (let c = 0; c < bn.numFeatures; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + bn.eps);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  return { scale, shift };
}

/** Conv2d, with the batch norm that follows it folded in when given. */
export function conv(e: Emitter, conv: Conv2d, bn: BatchNorm2d | undefined, x: string): string {
  const name = e.name(conv);
  const w = values(conv.weight, `${name}.weight`);
  const bias = conv.bias ? values(conv.bias, `${name}.bias`) : undefined;
  const out = conv.outChannels;
  const perOut = w.length / out;
  const weight = new Float32Array(w.length);
  const b = new Float32Array(out);
  if (bn && bn.numFeatures !== out) throw new Error(`ONNX export: ${e.name(bn)} has ${bn.numFeatures} channels, ${name} outputs ${out}`);
  const { scale, shift } = bn ? bnAffine(bn, e.name(bn)) : { scale: new Float64Array(out).fill(1), shift: new Float64Array(out) };
  for (let o = 0; o < out; o++) {
    for (let i = o * perOut; i < (o + 1) * perOut; i++) weight[i] = w[i] * scale[o];
    b[o] = (bias ? bias[o] : 0) * scale[o] + shift[o];
  }
  const [ph, pw] = conv.padding;
  const inputs = [x, e.g.float(`${name}.weight`, weight, conv.weight.shape), e.g.float(`${name}.bias`, b, [out])];
  return e.g.node('Conv', inputs, { kernel_shape: conv.kernelSize, strides: conv.stride, pads: [ph, pw, ph, pw], dilations: conv.dilation, group: conv.groups }, name);
}

/** A batch norm on its own (after a ReLU or a sum): BatchNormalization with the module's own parameters. */
export function batchNorm(e: Emitter, bn: BatchNorm2d, x: string): string {
  const name = e.name(bn);
  const c = [bn.numFeatures];
  const gamma = bn.weight ? values(bn.weight, `${name}.weight`) : new Float32Array(bn.numFeatures).fill(1);
  const beta = bn.bias ? values(bn.bias, `${name}.bias`) : new Float32Array(bn.numFeatures);
  const mean = values(bn.runningMean, `${name}.running_mean (batch norm without running statistics cannot be exported)`);
  return e.g.node('BatchNormalization', [
    x, e.g.float(`${name}.weight`, gamma, c), e.g.float(`${name}.bias`, beta, c),
    e.g.float(`${name}.running_mean`, mean, c), e.g.float(`${name}.running_var`, values(bn.runningVar, `${name}.running_var`), c),
  ], { epsilon: { float: bn.eps } }, name);
}

export function linear(e: Emitter, fc: Linear, x: string): string {
  const name = e.name(fc);
  const inputs = [x, e.g.float(`${name}.weight`, values(fc.weight, `${name}.weight`), fc.weight.shape)];
  if (fc.bias) inputs.push(e.g.float(`${name}.bias`, values(fc.bias, `${name}.bias`), fc.bias.shape));
  return e.g.node('Gemm', inputs, { transB: 1 }, name);
}

export function maxPool(e: Emitter, pool: MaxPool2d, x: string): string {
  const o = pool.options;
  const k = pair(pool.kernelSize, 1);
  const [ph, pw] = pair(o.padding, 0);
  return e.g.node('MaxPool', [x], {
    kernel_shape: k, strides: pair(o.stride, k), pads: [ph, pw, ph, pw], dilations: pair(o.dilation, 1), ceil_mode: o.ceilMode ? 1 : 0,
  }, e.name(pool));
}

export function globalAvgPool(e: Emitter, pool: AdaptiveAvgPool2d, x: string): string {
  const [h, w] = pair(pool.outputSize, 1);
  if (h !== 1 || w !== 1) throw new Error(`ONNX export: ${e.name(pool)} pools to ${h}×${w}; only global pooling (1×1) is exported`);
  return e.g.node('GlobalAveragePool', [x], {}, e.name(pool));
}

export const relu = (e: Emitter, x: string, name: string): string => e.g.node('Relu', [x], {}, name);
export const add = (e: Emitter, a: string, b: string, name: string): string => e.g.node('Add', [a, b], {}, name);
export const flatten = (e: Emitter, x: string, name: string): string => e.g.node('Flatten', [x], { axis: 1 }, name);
