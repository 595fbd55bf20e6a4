// What a SpotTune policy is doing, from its logits over a set of images: is it still undecided
// (entropy), does it route images differently at all (decisions off the majority), and how far
// is training's sampled routing from the argmax routing used at test (agreement)?
//
// The Gumbel-max sample argmax(log α + G) picks the fine-tuned block with probability
// p = softmax(log α)₁, whatever τ, so p is the policy's real distribution in training.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface PolicyStats {
  /** Images seen. */
  images: number;
  /** Mean over images and blocks of the binary entropy of p, in bits (0 = decided, 1 = a coin). */
  entropy: number;
  /** Per block: fraction of images whose argmax decision is "fine-tuned". */
  argmaxFreq: number[];
  /** Fraction of (image, block) argmax decisions that differ from that block's majority. */
  offMajority: number;
  /** Fraction of images whose argmax decisions differ from the majority in at least one block. */
  imagesOffMajority: number;
  /**
   * Fraction of (image, block) sampled decisions equal to the argmax decision (for soft
   * decisions in [0, 1]: the mean weight on the argmax branch); null without samples.
   */
  sampleAgreement: number | null;
}

/** Accumulates PolicyStats over batches (one per epoch, say). */
export class PolicyStatsAccumulator {
  private images = 0;
  private entropySum = 0;
  private agree = 0;
  private sampled = 0;
  /** Argmax decisions of every image, row by row (L per image). */
  private readonly argmax: number[] = [];

  constructor(readonly numBlocks: number) {}

  /** logits: [B, L, 2] policy logits; decisions: [B, L] sampled decisions in [0, 1], if any. */
  add(logits: Tensor, decisions?: Tensor): void {
    const L = this.numBlocks;
    if (logits.ndim !== 3 || logits.shape[1] !== L || logits.shape[2] !== 2) throw new Error(`policy logits: expected shape [B, ${L}, 2], got [${logits.shape.join(', ')}]`);
    const B = logits.shape[0];
    const [p, chosen, sample] = torch.tidy(() => torch.noGrad(() => {
      const l = logits.detach().float();
      const prob = l.softmax(2).select(2, 1);
      // Ties go to the frozen block, as argmax over [frozen, fine-tuned] does.
      const top = l.select(2, 1).gt(l.select(2, 0)).float();
      return [prob.toArray(), top.toArray(), decisions ? decisions.detach().float().toArray() : undefined] as const;
    }));
    for (let i = 0; i < B * L; i++) {
      const q = p[i];
      if (q > 0 && q < 1) this.entropySum -= (q * Math.log(q) + (1 - q) * Math.log(1 - q)) / Math.LN2;
      this.argmax.push(chosen[i]);
      if (sample) {
        this.agree += 1 - Math.abs(sample[i] - chosen[i]);
        this.sampled++;
      }
    }
    this.images += B;
  }

  result(): PolicyStats {
    const L = this.numBlocks;
    const n = this.images;
    const ones = new Array<number>(L).fill(0);
    for (let i = 0; i < n; i++) for (let l = 0; l < L; l++) ones[l] += this.argmax[i * L + l];
    // The majority of each block; a tie counts as "fine-tuned" (either way, half the images are off it).
    const majority = ones.map((c) => (2 * c >= n ? 1 : 0));
    let off = 0;
    let imagesOff = 0;
    for (let i = 0; i < n; i++) {
      let any = false;
      for (let l = 0; l < L; l++) {
        if (this.argmax[i * L + l] !== majority[l]) {
          off++;
          any = true;
        }
      }
      if (any) imagesOff++;
    }
    return {
      images: n,
      entropy: n ? this.entropySum / (n * L) : 0,
      argmaxFreq: ones.map((c) => (n ? c / n : 0)),
      offMajority: n ? off / (n * L) : 0,
      imagesOffMajority: n ? imagesOff / n : 0,
      sampleAgreement: this.sampled ? this.agree / this.sampled : null,
    };
  }
}

/** PolicyStats of one set of logits (and sampled decisions). */
export function policyStats(logits: Tensor, decisions?: Tensor): PolicyStats {
  const acc = new PolicyStatsAccumulator(logits.shape[1]);
  acc.add(logits, decisions);
  return acc.result();
}
