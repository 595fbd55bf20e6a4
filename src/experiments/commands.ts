// What the experiment commands do (sweep, table, report, decathlon-score); src/cli/main.ts
// parses their flags and imports this lazily.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseSweepConfig, type Settings, type SweepConfig } from './sweep_config.js';
import { runSweep } from './sweep.js';
import { loadRuns, type RunRecord } from './runs.js';
import { compare, formatComparison, stat, type TableFormat } from './table.js';
import { decathlonDomain, decathlonScore } from './decathlon.js';
import { formatPolicy } from './policy_table.js';

export interface SweepFlags {
  config?: string;
  methods?: string[];
  datasets?: string[];
  seeds?: number[];
  /** Keep only these variants of the file (none: no variant runs). */
  variants?: string[];
  /** Training settings from flags, merged over the file's `base`. */
  base: Settings;
  output?: string;
  jobs?: number;
  threads?: number;
}

/** The sweep of a config file and/or flags (flags win), checked. */
export function sweepFromFlags(f: SweepFlags): { cfg: SweepConfig; where: string; output: string } {
  let raw: Record<string, unknown> = {};
  let where = 'flags';
  if (f.config) {
    if (!existsSync(f.config)) throw new Error(`--config ${f.config}: file not found`);
    try {
      raw = JSON.parse(readFileSync(f.config, 'utf8'));
    } catch (e) {
      throw new Error(`${f.config}: not valid JSON (${(e as Error).message})`);
    }
    where = f.config;
    parseSweepConfig(raw, where); // the file as written; then narrowed by flags
  }
  const narrow = (table: string, keep: string[]) => {
    if (raw[table]) raw[table] = Object.fromEntries(Object.entries(raw[table] as Settings).filter(([k]) => keep.includes(k)));
  };
  if (f.methods) {
    raw.methods = f.methods;
    narrow('perMethod', f.methods);
  }
  if (f.datasets) {
    raw.datasets = f.datasets;
    narrow('perDataset', f.datasets);
  }
  if (f.seeds) raw.seeds = f.seeds;
  if (f.variants) {
    const known = Object.keys((raw.variants ?? {}) as Settings);
    const unknown = f.variants.filter((v) => v !== 'none' && !known.includes(v));
    if (unknown.length > 0) throw new Error(`--variants ${unknown.join(',')}: not a variant of ${f.config ?? 'the sweep'} (variants: ${known.join(', ') || 'none'})`);
    narrow('variants', f.variants);
  }
  raw.seeds ??= [0];
  if (Object.keys(f.base).length > 0) raw.base = { ...(raw.base as Settings | undefined), ...f.base };
  if (!f.config && (!f.methods || !f.datasets)) throw new Error('give --config <file.json>, or --methods and --datasets (and --seeds)');
  const output = f.output ?? (f.config ? join('runs', basename(f.config, extname(f.config))) : undefined);
  if (!output) throw new Error('give --output <dir>: the sweep\'s folder');
  return { cfg: parseSweepConfig(raw, where), where, output };
}

export async function sweepCommand(f: SweepFlags): Promise<void> {
  const { cfg, where, output } = sweepFromFlags(f);
  const s = await runSweep(cfg, { output, jobs: f.jobs, threads: f.threads, where, sourceEpochs: true });
  if (s.failed.length > 0) {
    for (const x of s.failed) process.stderr.write(`\n${x.job.name} failed: ${x.error}\n`);
    throw new Error(`${s.failed.length} job(s) failed; fix the cause and run the same command again to finish the rest`);
  }
  console.log(formatComparison(compare(loadRuns(output)), 'markdown'));
}

export function tableCommand(dir: string, format: TableFormat, policy = false): void {
  const runs = loadRuns(dir);
  if (policy && format !== 'markdown') throw new Error('--policy prints Markdown tables: leave out --format');
  process.stdout.write(formatComparison(compare(runs), format) + (policy ? formatPolicy(runs) : ''));
}

export async function reportCommand(dir: string, output: string): Promise<void> {
  const { renderReport } = await import('./report.js');
  writeFileSync(output, renderReport(loadRuns(dir), { title: `spottune: ${dir}` }));
  console.log(`report: ${output}`);
}

interface ScoreRow {
  method: string;
  score: number;
  perDomain: Record<string, number>;
  /** The score of each seed's accuracies (seeds with a run on every domain of the method). */
  perSeed?: { mean: number; std: number; n: number };
  /** Paired over seeds: S(method, seed) − S(baseline method, seed). */
  vsBaseline?: { mean: number; std: number; n: number };
}

/** Baseline accuracies (%) by dataset: a method's mean over seeds in the runs, or a JSON file {dataset: accuracy}. */
function readBaselines(baseline: string, runs: RunRecord[]): Record<string, number> {
  if (baseline.endsWith('.json')) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(baseline, 'utf8'));
    } catch (e) {
      throw new Error(`--baseline ${baseline}: cannot read it as JSON (${(e as Error).message})`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`--baseline ${baseline}: expected an object {"<dataset>": <accuracy %>}`);
    for (const [d, v] of Object.entries(raw)) if (typeof v !== 'number' || !(v >= 0 && v < 100)) throw new Error(`--baseline ${baseline}: field "${d}": expected an accuracy in [0, 100), got ${JSON.stringify(v)}`);
    return raw as Record<string, number>;
  }
  const mine = runs.filter((r) => r.label === baseline);
  if (mine.length === 0) throw new Error(`--baseline ${baseline}: no runs of that method in the folder (methods: ${[...new Set(runs.map((r) => r.label))].join(', ')}), and not a .json file`);
  const datasets = [...new Set(mine.map((r) => r.result.data))];
  return Object.fromEntries(datasets.map((d) => [d, stat(mine.filter((r) => r.result.data === d).map((r) => r.result.testAcc)).mean]));
}

/** Rows of a runs folder: per method, the score of its mean accuracy per dataset, per seed, and paired against the baseline method. */
function scoreRuns(runs: RunRecord[], baselines: Record<string, number> | undefined, baselineMethod: string | undefined): ScoreRow[] {
  const rows: ScoreRow[] = [];
  const methods = [...new Set(runs.map((r) => r.label))];
  /** Score per seed over the given datasets (default: all the method has), for seeds with a run on each. */
  const seedScores = (method: string, only?: string[]): Map<number, number> => {
    const mine = runs.filter((x) => x.label === method);
    const datasets = only ?? [...new Set(mine.map((x) => x.result.data))];
    const out = new Map<number, number>();
    for (const seed of new Set(mine.map((x) => x.result.seed))) {
      const accs = Object.fromEntries(datasets.map((d) => [d, mine.find((x) => x.result.data === d && x.result.seed === seed)?.result.testAcc]));
      if (Object.values(accs).every((a) => a !== undefined)) out.set(seed, decathlonScore(accs as Record<string, number>, baselines).score);
    }
    return out;
  };
  for (const method of methods) {
    const mine = runs.filter((x) => x.label === method);
    const datasets = [...new Set(mine.map((x) => x.result.data))].sort();
    const accs = Object.fromEntries(datasets.map((d) => [d, stat(mine.filter((x) => x.result.data === d).map((x) => x.result.testAcc)).mean]));
    const row: ScoreRow = { method, ...decathlonScore(accs, baselines) };
    if (baselines) {
      const perSeed = seedScores(method);
      if (perSeed.size > 0) row.perSeed = stat([...perSeed.values()]);
      // Paired on the same seeds and the same domains (the baseline method scored on this method's).
      const base = baselineMethod && method !== baselineMethod ? seedScores(baselineMethod, datasets) : undefined;
      if (base) {
        const paired = [...perSeed].filter(([seed]) => base.has(seed)).map(([seed, v]) => v - (base.get(seed) as number));
        if (paired.length > 0) row.vsBaseline = stat(paired);
      }
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The Decathlon score of `name=accuracy` pairs, or of each method of a runs folder (mean
 * accuracy over seeds per dataset). Without `baseline`, the challenge's baselines and only the
 * folder's Visual Decathlon datasets; with it (a method of the folder, e.g. finetune, or a JSON
 * file of accuracies), every dataset of the folder against those baselines.
 */
export function decathlonScoreCommand(args: string[], json: boolean, baseline?: string): void {
  let rows: ScoreRow[] = [];
  if (args.length === 1 && !args[0].includes('=')) {
    if (!existsSync(args[0])) throw new Error(`"${args[0]}": expected a runs folder, or <dataset>=<accuracy %> pairs (e.g. aircraft=60.34)`);
    let runs = loadRuns(args[0]);
    const baselines = baseline ? readBaselines(baseline, runs) : undefined;
    if (baselines) runs = runs.filter((r) => r.result.data in baselines);
    else runs = runs.filter((r) => decathlonDomain(r.result.data));
    if (runs.length === 0) throw new Error(baselines ? `${args[0]}: no runs on the baseline's datasets (${Object.keys(baselines).join(', ')})` : `${args[0]}: no runs on Visual Decathlon datasets (decathlon:<root>:<name>); give --baseline <method> to score other datasets`);
    rows = scoreRuns(runs, baselines, baseline && !baseline.endsWith('.json') ? baseline : undefined);
  } else {
    if (baseline) throw new Error('--baseline goes with a runs folder, not with <dataset>=<accuracy> pairs');
    const accs: Record<string, number> = {};
    for (const a of args) {
      const m = /^([^=]+)=(.+)$/.exec(a);
      if (!m || !Number.isFinite(Number(m[2]))) throw new Error(`"${a}": expected <dataset>=<accuracy %>, e.g. aircraft=60.34`);
      accs[m[1]] = Number(m[2]);
    }
    rows.push({ method: '', ...decathlonScore(accs) });
  }
  if (json) {
    console.log(JSON.stringify(rows.length === 1 && !rows[0].method ? rows[0] : rows));
    return;
  }
  const pm = (s: { mean: number; std: number; n: number }, sign = false) => `${sign && s.mean >= 0 ? '+' : ''}${s.mean.toFixed(0)} ± ${s.std.toFixed(0)} (${s.n})`;
  for (const r of rows) {
    const parts = Object.entries(r.perDomain).map(([d, p]) => `${d} ${p.toFixed(0)}`).join(', ');
    const extra = [r.perSeed && `per seed ${pm(r.perSeed)}`, r.vsBaseline && `vs ${baseline} ${pm(r.vsBaseline, true)}`].filter(Boolean).join('; ');
    console.log(`${r.method ? `${r.method}: ` : ''}S = ${r.score.toFixed(0)}${extra ? ` [${extra}]` : ''} (${parts})`);
  }
}
