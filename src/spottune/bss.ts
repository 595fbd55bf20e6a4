// Batch Spectral Shrinkage (Chen et al., "Catastrophic Forgetting Meets Negative Transfer:
// Batch Spectral Shrinkage for Safe Transfer Learning", NeurIPS 2019): standard fine-tuning
// plus η·Σᵢ₌₁ᵏ σ₋ᵢ², the squares of the k smallest singular values of the batch's feature
// matrix F [B, D] (the pooled features the classifier sees), so that the feature directions
// the target barely uses (where the source's non-transferable knowledge lives) shrink.
// Defaults from TLlib's recipe (examples/task_adaptation/image_classification/bss.py):
// k = 1, η = 0.001.
import type { Tensor } from '../torch/index.js';
import { op } from '../torch/ops.js';
import type { Backbone } from '../models/index.js';
import { PlainModel } from './plain_model.js';

/** Singular values of a matrix, largest first (aten::linalg_svdvals, differentiable). */
const svdvals = (x: Tensor): Tensor => op('linalg_svdvals').t(x.handle);

export interface BssOptions {
  /** How many of the smallest singular values are penalised. */
  k: number;
  /** Weight η of the penalty. */
  eta: number;
}

export const defaultBssOptions: BssOptions = { k: 1, eta: 0.001 };

/** Σ of the squares of the k smallest singular values of features [B, D]. */
export function batchSpectralShrinkage(features: Tensor, k: number): Tensor {
  if (features.ndim !== 2) throw new Error(`batchSpectralShrinkage: features must be [batch, dim], got [${features.shape.join(', ')}]`);
  const s = svdvals(features);
  const n = s.shape[0];
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`batchSpectralShrinkage: k must be an integer in [1, ${n}] (min(batch, dim)), got ${k}`);
  return s.narrow(0, n - k, k).square().sum();
}

/** Fine-tuning of every parameter with the BSS penalty on each batch's features (k capped at min(batch, dim) for a short last batch). */
export function bssModel(net: Backbone, o: BssOptions): PlainModel {
  return new PlainModel(net, {
    frozen: [],
    regularizer: (out) => batchSpectralShrinkage(out.features, Math.min(o.k, ...out.features.shape)).mul(o.eta),
  });
}
