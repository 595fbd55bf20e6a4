// What the learned policies did (`spottune table --policy`): for each method with a policy
// network and each dataset, the policy statistics of the last epoch (mean over seeds), and which
// blocks each dataset's test images ran fine-tuned (the paper's Figure 4, as numbers).
import type { PolicyStats } from '../spottune/index.js';
import type { RunRecord } from './runs.js';
import { stat } from './table.js';

const row = (cells: string[]) => `| ${cells.join(' | ')} |\n`;
const table = (header: string[], rows: string[][]) => row(header) + row(header.map((_, i) => (i === 0 ? '---' : '---:'))) + rows.map(row).join('');

function lastPolicy(r: RunRecord): { train: PolicyStats; test: PolicyStats | null } | undefined {
  for (let i = r.metrics.length - 1; i >= 0; i--) if (r.metrics[i].policy) return r.metrics[i].policy;
  return undefined;
}

/** Markdown: the statistics table and the per-block fine-tune frequencies; empty without policy statistics. */
export function formatPolicy(runs: RunRecord[]): string {
  const withPolicy = runs.filter((r) => lastPolicy(r));
  if (withPolicy.length === 0) return '';
  const labels = [...new Set(withPolicy.map((r) => r.label))];
  const datasets = [...new Set(withPolicy.map((r) => r.result.data))];
  const mean = (rs: RunRecord[], f: (p: { train: PolicyStats; test: PolicyStats | null }) => number | null | undefined) => {
    const values = rs.map((r) => f(lastPolicy(r)!)).filter((v): v is number => typeof v === 'number');
    return values.length ? stat(values).mean : NaN;
  };
  const pct = (v: number) => (Number.isNaN(v) ? '–' : (100 * v).toFixed(0));
  const stats: string[][] = [];
  const blocks: string[][] = [];
  for (const label of labels) {
    for (const d of datasets) {
      const rs = withPolicy.filter((r) => r.label === label && r.result.data === d);
      if (rs.length === 0) continue;
      stats.push([
        label, d, String(rs.length),
        mean(rs, (p) => p.train.entropy).toFixed(2),
        pct(mean(rs, (p) => p.train.sampleAgreement)),
        pct(mean(rs, (p) => p.test?.offMajority)),
        pct(mean(rs, (p) => p.test?.imagesOffMajority)),
        pct(stat(rs.map((r) => r.result.blockFreq.reduce((a, b) => a + b, 0) / r.result.blockFreq.length)).mean),
      ]);
      const L = rs[0].result.blockFreq.length;
      blocks.push([label, d, ...Array.from({ length: L }, (_, l) => pct(stat(rs.map((r) => r.result.blockFreq[l])).mean))]);
    }
  }
  const L = Math.max(...withPolicy.map((r) => r.result.blockFreq.length));
  return '\nPolicy statistics after the last epoch, mean over seeds: entropy of the policy on the training images (bits per decision: 0 decided, 1 a coin), '
    + 'agreement of the sampled training routing with argmax (%), test decisions off their block\'s majority (% of decisions; % of images with any), '
    + 'and the test decisions that ran the fine-tuned block (%).\n\n'
    + table(['method', 'dataset', 'seeds', 'entropy', 'sampled = argmax', 'off majority', 'images off', 'fine-tuned'], stats)
    + '\nFine-tuned block per test image (%), by block (1 = first), mean over seeds.\n\n'
    + table(['method', 'dataset', ...Array.from({ length: L }, (_, l) => String(l + 1))], blocks);
}
