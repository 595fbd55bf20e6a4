// The Global-k loss of the paper: encourage the policy to fine-tune k blocks on average.
// With v_l the batch mean of the decisions I_l:
//   l_k = (Σ_l v_l − k)²,  l_e = −Σ_l v_l · log v_l,  L_reg = λ1 · l_k + λ2 · l_e
import type { Tensor } from '../torch/index.js';

export interface GlobalKOptions {
  k: number;
  lambda1: number;
  lambda2: number;
}

/** Decisions [B, L] (0/1 with straight-through gradients) to λ1·l_k + λ2·l_e. */
export function globalKLoss(decisions: Tensor, o: GlobalKOptions): Tensor {
  const v = decisions.mean(0);
  const lk = v.sum().sub(o.k).square();
  // v·log v → 0 as v → 0: clamp inside the log only, so v = 0 contributes 0
  const le = v.mul(v.clamp(1e-8).log()).sum().neg();
  return lk.mul(o.lambda1).add(le.mul(o.lambda2));
}
