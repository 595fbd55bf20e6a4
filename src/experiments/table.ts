// The comparison of a sweep: test accuracy mean ± std over seeds (a row per method, a column
// per dataset, best per column marked), the paired difference against standard fine-tuning
// (same seed, hence the same batch order: mean ± std over seeds of acc(method) − acc(finetune)),
// the paired difference of each variant against its own method (what the studied setting
// changes), and each method's training cost. As Markdown, CSV (one tidy table) or LaTeX (booktabs).
import type { RunRecord } from './runs.js';

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single value. */
  std: number;
  n: number;
}

export interface Cost {
  seconds: Stat;
  imagesPerSec: Stat;
  trainableParams: Stat;
}

export interface Comparison {
  methods: string[];
  datasets: string[];
  /** method → dataset → test accuracy (%). */
  accuracy: Map<string, Map<string, Stat>>;
  /** dataset → the methods with the highest mean (ties share it). */
  best: Map<string, Set<string>>;
  /** method → dataset → acc(method, seed) − acc(finetune, seed), over the seeds both have; absent without finetune runs. */
  paired?: Map<string, Map<string, Stat>>;
  /** 'method [variant]' → dataset → acc(method [variant], seed) − acc(method, seed); absent without variants of methods in the runs. */
  variants?: Map<string, Map<string, Stat>>;
  /** method → mean cost per run. */
  cost: Map<string, Cost>;
}

export const REFERENCE_METHOD = 'finetune';

export function stat(values: number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export function compare(runs: RunRecord[]): Comparison {
  const methods = [...new Set(runs.map((r) => r.label))];
  const datasets = [...new Set(runs.map((r) => r.result.data))];
  // method → dataset → seed → accuracy
  const acc = new Map<string, Map<string, Map<number, number>>>();
  const where = new Map<string, string>();
  for (const { dir, label, result: r } of runs) {
    const key = `${label}|${r.data}|${r.seed}`;
    if (where.has(key)) throw new Error(`two runs of ${label} on ${r.data} with seed ${r.seed}: ${where.get(key)} and ${dir}; keep one`);
    where.set(key, dir);
    const byData = acc.get(label) ?? acc.set(label, new Map()).get(label)!;
    const bySeed = byData.get(r.data) ?? byData.set(r.data, new Map()).get(r.data)!;
    bySeed.set(r.seed, r.testAcc);
  }
  const accuracy = new Map([...acc].map(([m, byData]) => [m, new Map([...byData].map(([d, bySeed]) => [d, stat([...bySeed.values()])]))]));
  const best = new Map<string, Set<string>>();
  for (const d of datasets) {
    const means = methods.map((m) => accuracy.get(m)?.get(d)?.mean ?? -Infinity);
    const top = Math.max(...means);
    best.set(d, new Set(methods.filter((_, i) => means[i] === top)));
  }
  // Per dataset, acc(m, seed) − acc(ref, seed) over the seeds both have.
  const pairedRow = (m: string, ref: Map<string, Map<number, number>>) => {
    const row = new Map<string, Stat>();
    for (const [d, bySeed] of acc.get(m)!) {
      const refSeeds = ref.get(d);
      const diffs = [...bySeed].filter(([s]) => refSeeds?.has(s)).map(([s, a]) => a - refSeeds!.get(s)!);
      if (diffs.length > 0) row.set(d, stat(diffs));
    }
    return row;
  };
  const ref = acc.get(REFERENCE_METHOD);
  const paired = ref ? new Map(methods.filter((m) => m !== REFERENCE_METHOD).map((m) => [m, pairedRow(m, ref)])) : undefined;
  const ofVariant = methods.map((m) => [m, acc.get(/^(.+) \[[^\]]+\]$/.exec(m)?.[1] ?? '')] as const).filter(([, own]) => own !== undefined);
  const variants = ofVariant.length > 0 ? new Map(ofVariant.map(([m, own]) => [m, pairedRow(m, own!)])) : undefined;
  const cost = new Map<string, Cost>();
  for (const m of methods) {
    const rs = runs.filter((r) => r.label === m).map((r) => r.result);
    cost.set(m, { seconds: stat(rs.map((r) => r.trainSeconds)), imagesPerSec: stat(rs.map((r) => r.imagesPerSec)), trainableParams: stat(rs.map((r) => r.trainableParams)) });
  }
  return { methods, datasets, accuracy, best, paired, variants, cost };
}

export type TableFormat = 'markdown' | 'csv' | 'latex';

const pm = (s: Stat, digits = 2, sign = false) => {
  const m = (sign && s.mean > 0 ? '+' : '') + s.mean.toFixed(digits);
  return s.n > 1 ? `${m} ± ${s.std.toFixed(digits)}` : m;
};

/** Parameter counts as 1.2k / 3.4M. */
export function count(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/** The seeds behind the cells: "n = 5" when every cell has the same, else per cell. */
function seedsNote(c: Comparison): { note: string; perCell: boolean } {
  const ns = new Set([...c.accuracy.values()].flatMap((row) => [...row.values()].map((s) => s.n)));
  return ns.size === 1 ? { note: `n = ${[...ns][0]} seed${[...ns][0] > 1 ? 's' : ''}`, perCell: false } : { note: 'n seeds in parentheses', perCell: true };
}

/** Rows of text cells for the three tables; `bold` wraps the best cells. */
export function tableCells(c: Comparison, bold: (s: string) => string) {
  const { perCell } = seedsNote(c);
  const accRows = c.methods.map((m) => [m, ...c.datasets.map((d) => {
    const s = c.accuracy.get(m)?.get(d);
    if (!s) return '–';
    const text = pm(s) + (perCell ? ` (${s.n})` : '');
    return c.best.get(d)!.has(m) ? bold(text) : text;
  })]);
  const diffRows = (diffs: Map<string, Map<string, Stat>>) => [...diffs].map(([m, row]) => [m, ...c.datasets.map((d) => {
    const s = row.get(d);
    return s ? `${pm(s, 2, true)} (${s.n})` : '–';
  })]);
  const pairedRows = c.paired ? diffRows(c.paired) : undefined;
  const variantRows = c.variants ? diffRows(c.variants) : undefined;
  const costRows = c.methods.map((m) => {
    const k = c.cost.get(m)!;
    return [m, k.seconds.mean.toFixed(1), k.imagesPerSec.mean.toFixed(0), count(k.trainableParams.mean)];
  });
  return { accRows, pairedRows, variantRows, costRows };
}

const COST_HEADER = ['method', 'seconds per run', 'images/s', 'trainable parameters'];
const VARIANTS_CAPTION = 'Paired difference of each variant against its own method (same seed): mean ± std over seeds of acc(method [variant]) − acc(method), in points (seeds in parentheses)';

function markdown(c: Comparison): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |\n`;
  const table = (header: string[], rows: string[][]) => row(header) + row(header.map((_, i) => (i === 0 ? '---' : '---:'))) + rows.map(row).join('');
  const { accRows, pairedRows, variantRows, costRows } = tableCells(c, (s) => `**${s}**`);
  let out = `Test accuracy (%), mean ± std over seeds (${seedsNote(c).note}); best per column in bold.\n\n` + table(['method', ...c.datasets], accRows);
  if (pairedRows) {
    out += `\nPaired difference against standard fine-tuning (same seed, same batch order): mean ± std over seeds of acc(method) − acc(${REFERENCE_METHOD}), in points (seeds in parentheses).\n\n` + table(['method', ...c.datasets], pairedRows);
  }
  if (variantRows) {
    out += `\n${VARIANTS_CAPTION}.\n\n` + table(['variant', ...c.datasets], variantRows);
  }
  out += '\nTraining cost (mean per run).\n\n' + table(COST_HEADER, costRows);
  return out;
}

function latex(c: Comparison): string {
  const esc = (s: string) => s.replace(/([\\&%$#_{}])/g, '\\$1').replace(/±/g, '$\\pm$').replace(/–/g, '--').replace(/−/g, '$-$');
  const table = (caption: string, header: string[], rows: string[][]) =>
    `% ${caption}\n\\begin{tabular}{l${'r'.repeat(header.length - 1)}}\n\\toprule\n${header.map(esc).join(' & ')} \\\\\n\\midrule\n` +
    rows.map((r) => r.join(' & ') + ' \\\\\n').join('') + '\\bottomrule\n\\end{tabular}\n';
  const escRows = (rows: string[][]) => rows.map((r) => r.map((x) => (x.startsWith('\\textbf{') ? x : esc(x))));
  const { accRows, pairedRows, variantRows, costRows } = tableCells(c, (s) => `\\textbf{${esc(s)}}`);
  let out = table(`Test accuracy (%), mean ± std over seeds (${seedsNote(c).note}); best per column in bold.`, ['method', ...c.datasets], escRows(accRows));
  if (pairedRows) out += '\n' + table(`Paired difference against ${REFERENCE_METHOD} (same seed), accuracy points (seeds).`, ['method', ...c.datasets], escRows(pairedRows));
  if (variantRows) out += '\n' + table(`${VARIANTS_CAPTION}.`, ['variant', ...c.datasets], escRows(variantRows));
  out += '\n' + table('Training cost (mean per run).', COST_HEADER, escRows(costRows));
  return out;
}

function csv(c: Comparison): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['section,method,dataset,metric,mean,std,n,best'];
  const add = (section: string, m: string, d: string, metric: string, s: Stat, best = false) =>
    lines.push([section, q(m), q(d), metric, String(s.mean), String(s.std), String(s.n), best ? '1' : '0'].join(','));
  for (const m of c.methods) for (const d of c.datasets) {
    const s = c.accuracy.get(m)?.get(d);
    if (s) add('accuracy', m, d, 'testAcc', s, c.best.get(d)!.has(m));
  }
  if (c.paired) for (const [m, row] of c.paired) for (const d of c.datasets) {
    const s = row.get(d);
    if (s) add(`paired_vs_${REFERENCE_METHOD}`, m, d, 'testAccDiff', s);
  }
  if (c.variants) for (const [m, row] of c.variants) for (const d of c.datasets) {
    const s = row.get(d);
    if (s) add('paired_vs_own_method', m, d, 'testAccDiff', s);
  }
  for (const m of c.methods) {
    const k = c.cost.get(m)!;
    add('cost', m, '', 'trainSeconds', k.seconds);
    add('cost', m, '', 'imagesPerSec', k.imagesPerSec);
    add('cost', m, '', 'trainableParams', k.trainableParams);
  }
  return lines.join('\n') + '\n';
}

export function formatComparison(c: Comparison, format: TableFormat): string {
  if (format === 'markdown') return markdown(c);
  if (format === 'latex') return latex(c);
  if (format === 'csv') return csv(c);
  throw new Error(`--format must be markdown, csv or latex, got "${format}"`);
}
