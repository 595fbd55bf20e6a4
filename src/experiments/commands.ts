// What the experiment commands do (sweep, table, report, decathlon-score); src/cli/main.ts
// parses their flags and imports this lazily.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseSweepConfig, type Settings, type SweepConfig } from './sweep_config.js';
import { runSweep } from './sweep.js';
import { loadRuns, methodOrder } from './runs.js';
import { compare, formatComparison, stat, type TableFormat } from './table.js';
import { decathlonDomain, decathlonScore } from './decathlon.js';

export interface SweepFlags {
  config?: string;
  methods?: string[];
  datasets?: string[];
  seeds?: number[];
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

export function tableCommand(dir: string, format: TableFormat): void {
  process.stdout.write(formatComparison(compare(loadRuns(dir)), format));
}

export async function reportCommand(dir: string, output: string): Promise<void> {
  const { renderReport } = await import('./report.js');
  writeFileSync(output, renderReport(loadRuns(dir), { title: `spottune: ${dir}` }));
  console.log(`report: ${output}`);
}

/**
 * The Decathlon score of `name=accuracy` pairs, or of each method of a runs folder (mean
 * accuracy over seeds per Decathlon dataset).
 */
export function decathlonScoreCommand(args: string[], json: boolean): void {
  const rows: { method: string; score: number; perDomain: Record<string, number> }[] = [];
  if (args.length === 1 && !args[0].includes('=')) {
    if (!existsSync(args[0])) throw new Error(`"${args[0]}": expected a runs folder, or <dataset>=<accuracy %> pairs (e.g. aircraft=60.34)`);
    const runs = loadRuns(args[0]).filter((r) => decathlonDomain(r.result.data));
    if (runs.length === 0) throw new Error(`${args[0]}: no runs on Visual Decathlon datasets (decathlon:<root>:<name>)`);
    const methods = [...new Set(runs.map((r) => r.result.method))].sort(methodOrder);
    for (const method of methods) {
      const mine = runs.filter((x) => x.result.method === method);
      const datasets = [...new Set(mine.map((x) => x.result.data))];
      const accs = Object.fromEntries(datasets.map((d) => [d, stat(mine.filter((x) => x.result.data === d).map((x) => x.result.testAcc)).mean]));
      rows.push({ method, ...decathlonScore(accs) });
    }
  } else {
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
  for (const r of rows) {
    const parts = Object.entries(r.perDomain).map(([d, p]) => `${d} ${p.toFixed(0)}`).join(', ');
    console.log(`${r.method ? `${r.method}: ` : ''}S = ${r.score.toFixed(0)} (${parts})`);
  }
}
