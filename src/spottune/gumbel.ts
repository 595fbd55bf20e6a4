// Gumbel-softmax with the straight-through estimator (Jang et al. 2017), as SpotTune uses it:
// the forward pass takes the hard one-hot sample argmax(log α + G); the backward pass takes
// the gradient of the soft sample softmax((log α + G) / τ). Noise as in the reference code:
// G = -log(-log(U + ε) + ε), ε = 1e-20.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

const EPS = 1e-20;

/** Gumbel(0, 1) noise of the given tensor's shape, from `uniform` draws U ∈ (0, 1) when given (else fresh ones). */
export function gumbelNoise(like: Tensor, uniform?: Tensor): Tensor {
  if (uniform && uniform.shape.join() !== like.shape.join()) {
    throw new Error(`gumbel noise: uniform draws of shape [${uniform.shape.join(', ')}] for logits of shape [${like.shape.join(', ')}]`);
  }
  return (uniform ?? torch.randLike(like)).add(EPS).log().neg().add(EPS).log().neg();
}

/** The relaxed sample softmax((log α + G) / τ) along the last dimension (G from `uniform` when given). */
export function gumbelSoftmax(logits: Tensor, tau: number, uniform?: Tensor): Tensor {
  if (!(tau > 0)) throw new RangeError(`gumbel-softmax temperature must be > 0, got ${tau}`);
  return logits.add(gumbelNoise(logits, uniform)).div(tau).softmax(-1);
}

/**
 * One-hot samples along the last dimension: exactly 0/1 in the forward pass, with the soft
 * sample's gradient (y_hard − stopgrad(y_soft) + y_soft). Note that τ does not change which
 * index is sampled; it only shapes the gradient. `uniform` gives the draws U behind the noise
 * (same shape as the logits), to reproduce a sample.
 */
export function gumbelSoftmaxHard(logits: Tensor, tau: number, uniform?: Tensor): Tensor {
  // Sampled in float32 even under mixed precision: bfloat16 logits plus noise would tie and
  // round, and the decisions must stay exactly 0/1.
  if (logits.dtype === 'bfloat16' || logits.dtype === 'float16') logits = logits.float();
  const soft = gumbelSoftmax(logits, tau, uniform);
  const hard = torch.oneHot(soft.argmax(-1), logits.shape[logits.ndim - 1]).to(soft.dtype);
  return hard.sub(soft.detach()).add(soft);
}

/** Temperature at an epoch: fixed (the reference code: τ = 5) or annealed exponentially to tauMin. */
export function temperature(epoch: number, tau: number, anneal?: { rate: number; min: number }): number {
  return anneal ? Math.max(anneal.min, tau * Math.exp(-anneal.rate * epoch)) : tau;
}
