// Finished runs under a folder, as the tables and the report read them: every folder below it
// that holds a result.json (a sweep's runs, or runs of `spottune train`), except source models.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { EpochMetrics, RunResult } from '../train/engine.js';
import { METHODS } from '../spottune/index.js';
import { EXAMPLES_FILE, type Examples } from './examples.js';
import { readDone } from './run_files.js';

export interface RunRecord {
  /** Folder, relative to the folder searched. */
  dir: string;
  /**
   * The row the run belongs to in tables: its method, or `method [variant]` for a sweep's run
   * below a variant folder (`<variant>/<method>/<dataset>/seed<k>`), so settings studied side by
   * side (one sweep folder each) get rows of their own.
   */
  label: string;
  result: RunResult;
  metrics: EpochMetrics[];
  examples?: Examples;
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

function readMetrics(path: string): EpochMetrics[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as EpochMetrics;
    } catch (e) {
      throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
}

/** Methods in the order of `spottune methods` (unknown names last, alphabetically). */
export function methodOrder(a: string, b: string): number {
  const ia = METHODS.indexOf(a);
  const ib = METHODS.indexOf(b);
  return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib) || a.localeCompare(b);
}

function labelOf(dir: string, method: string): string {
  const parts = dir.split(sep);
  const variant = parts.length > 3 && parts[parts.length - 3] === method && /^seed\d+$/.test(parts[parts.length - 1]) ? parts.slice(0, -3).join('/') : '';
  return variant ? `${method} [${variant}]` : method;
}

export function loadRuns(root: string): RunRecord[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${root}: no such folder`);
  const runs: RunRecord[] = [];
  const walk = (dir: string) => {
    if (existsSync(join(dir, 'result.json')) && readDone(dir)?.kind !== 'source') {
      const result = readJson<RunResult>(join(dir, 'result.json'));
      for (const f of ['method', 'data', 'seed', 'testAcc'] as const) {
        if (result[f] === undefined) throw new Error(`${join(dir, 'result.json')}: no field "${f}": not a result.json of spottune`);
      }
      const examples = existsSync(join(dir, EXAMPLES_FILE)) ? readJson<Examples>(join(dir, EXAMPLES_FILE)) : undefined;
      const rel = relative(root, dir) || '.';
      runs.push({ dir: rel, label: labelOf(rel, result.method), result, metrics: readMetrics(join(dir, 'metrics.jsonl')), examples });
    }
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  if (runs.length === 0) throw new Error(`${root}: no finished runs (folders with a result.json) below it`);
  return runs.sort((a, b) => methodOrder(a.result.method, b.result.method) || a.label.localeCompare(b.label) || a.result.data.localeCompare(b.result.data) || a.result.seed - b.result.seed);
}
