// The Visual Decathlon score (Rebuffi et al. 2017): S = Σ_d α_d · max(0, E_d^max − E_d)^γ with
// E the top-1 error in %, γ = 2, E_d^max = 2·E_d^base and α_d = 1000 / (E_d^max)², so a domain
// is worth 1000 points at most and the baseline (fine-tuning) earns 250 on each.

/** Baseline accuracies (%) of the challenge, by the Decathlon's dataset names. */
export const DECATHLON_BASELINE: Readonly<Record<string, number>> = {
  imagenet12: 59.87,
  aircraft: 60.34,
  cifar100: 82.12,
  daimlerpedcls: 92.82,
  dtd: 55.53,
  gtsrb: 97.53,
  'vgg-flowers': 81.41,
  omniglot: 87.69,
  svhn: 96.55,
  ucf101: 51.2,
};

const GAMMA = 2;

export interface DecathlonScore {
  /** The sum over the domains given. */
  score: number;
  perDomain: Record<string, number>;
}

/** A Decathlon dataset's name from a name or a `decathlon:<root>:<name>` spec; undefined otherwise. */
export function decathlonDomain(data: string): string | undefined {
  const name = data.startsWith('decathlon:') ? data.split(':')[2] : data;
  return name !== undefined && name in DECATHLON_BASELINE ? name : undefined;
}

/**
 * Scores accuracies (%) by domain. With the challenge's baselines (the default) a domain outside
 * the Decathlon is an error; with `baselines` (accuracy % of the baseline method by dataset, e.g.
 * fine-tuning's on the mini-Decathlon), every domain must have one.
 */
export function decathlonScore(accuracies: Record<string, number>, baselines?: Record<string, number>): DecathlonScore {
  const perDomain: Record<string, number> = {};
  let score = 0;
  for (const [d, acc] of Object.entries(accuracies)) {
    const domain = baselines ? d : decathlonDomain(d);
    if (!domain) throw new Error(`"${d}" is not a Visual Decathlon dataset; expected one of ${Object.keys(DECATHLON_BASELINE).join(', ')}`);
    const base = baselines ? baselines[d] : DECATHLON_BASELINE[domain];
    if (base === undefined) throw new Error(`no baseline accuracy for "${d}"; the baselines have ${Object.keys(baselines ?? {}).join(', ') || 'none'}`);
    if (!(base >= 0 && base < 100)) throw new Error(`baseline accuracy of ${d}: expected a percentage in [0, 100), got ${base}`);
    if (domain in perDomain) throw new Error(`${domain} is given twice`);
    if (!(acc >= 0 && acc <= 100)) throw new Error(`accuracy of ${d}: expected a percentage in [0, 100], got ${acc}`);
    const eMax = 2 * (100 - base);
    const points = (1000 / eMax ** 2) * Math.max(0, eMax - (100 - acc)) ** GAMMA;
    perDomain[domain] = points;
    score += points;
  }
  return { score, perDomain };
}
