// A sweep: methods × datasets × seeds on one set of training settings, plus the source models
// they start from (pre-training steps, run once and shared). Read from a JSON file or built from
// flags; checked before anything runs, with errors that name the field.
//
//   {
//     "sources":   { "r26": { "arch": "resnet26", "width": 0.25, "data": "fashion-mnist", "epochs": 8 } },
//     "base":      { "arch": "resnet26", "width": 0.25, "weights": "source:r26", "perClass": 10, "epochs": 30 },
//     "methods":   ["spottune", "finetune"],
//     "datasets":  ["glyphs", "digits"],
//     "seeds":     5,
//     "perMethod": { "feature-extractor": { "lr": 0.1 } },
//     "perDataset": { "digits": { "epochs": 40 } },
//     "variants":  { "bias2": { "methods": ["spottune"], "settings": { "agentBias": 2 } } }
//   }
//
// "source:<name>" in weights/deeperWeights names a source's weights. Each run's settings are
// base, then perDataset[data], then perMethod[method] (later wins; nested objects merge).
// A variant (a setting under study) runs its methods again with its settings on top, in
// <output>/<variant>/<method>/<dataset>/seed<k>: tables give it rows of its own, paired
// against the sweep's finetune runs.
import { join, resolve } from 'node:path';
import { makeConfig, type TrainConfig } from '../train/config.js';
import { TRAIN_OPTIONS } from '../train/options.js';
import { getMethod, listMethods, METHODS } from '../spottune/index.js';

export type Settings = Record<string, unknown>;

export interface SweepConfig {
  sources: Record<string, Settings>;
  base: Settings;
  methods: string[];
  datasets: string[];
  seeds: number[];
  perMethod: Record<string, Settings>;
  perDataset: Record<string, Settings>;
  variants: Record<string, { methods: string[]; settings: Settings }>;
}

/** One training job of a sweep: a source model or a run. */
export interface Job {
  kind: 'source' | 'run';
  /** sources: the source's name; runs: method/dataset/seed<k>. */
  name: string;
  dir: string;
  config: TrainConfig;
}

const TOP_FIELDS = ['sources', 'base', 'methods', 'datasets', 'seeds', 'perMethod', 'perDataset', 'variants', 'description'];
// A sweep's settings: the training settings and every method's options (each run keeps those of its method).
const TRAIN_FIELDS = Object.keys(TRAIN_OPTIONS);
const METHOD_FIELDS = [...new Set(listMethods().flatMap((m) => Object.keys(m.options)))];
const FIELDS = [...TRAIN_FIELDS, ...METHOD_FIELDS];

/** Thrown for a bad sweep configuration; `field` is the JSON path, e.g. perMethod.l2sp.lr. */
export class SweepConfigError extends Error {
  constructor(readonly field: string, expected: string, got: unknown, where = 'sweep config') {
    super(`${where}: field "${field}": expected ${expected}, got ${show(got)}`);
  }
}

/** A value for an error message: JSON, cut short (and no stack overflow on deeply nested input). */
function show(x: unknown): string {
  try {
    return (JSON.stringify(x) ?? String(x)).slice(0, 200);
  } catch {
    return Array.isArray(x) ? 'a deeply nested array' : typeof x;
  }
}

// More seeds than this is a typo (or a corrupt file), not a sweep.
const MAX_SEEDS = 10_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the shape of a parsed sweep file (types, known fields) and fills the defaults. */
export function parseSweepConfig(raw: unknown, where = 'sweep config'): SweepConfig {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new SweepConfigError(field, expected, got, where);
  };
  if (!isObject(raw)) bad('(top level)', 'a JSON object', raw);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!TOP_FIELDS.includes(k)) bad(k, `one of ${TOP_FIELDS.join(', ')} (unknown field)`, o[k]);

  const settings = (field: string, v: unknown): Settings => {
    if (!isObject(v)) bad(field, 'an object of training settings', v);
    for (const [k, x] of Object.entries(v as Settings)) {
      if (!FIELDS.includes(k)) bad(`${field}.${k}`, `a training setting or a method's option: one of ${FIELDS.join(', ')} (unknown field)`, x);
    }
    return v as Settings;
  };
  const table = (field: string, v: unknown, keys?: readonly string[], what = 'name'): Record<string, Settings> => {
    if (v === undefined) return {};
    if (!isObject(v)) bad(field, `an object of ${what} → settings`, v);
    const out: Record<string, Settings> = {};
    for (const [k, x] of Object.entries(v as Settings)) {
      if (keys && !keys.includes(k)) bad(`${field}.${k}`, `a ${what}: one of ${keys.join(', ')}`, k);
      out[k] = settings(`${field}.${k}`, x);
    }
    return out;
  };
  const strings = (field: string, v: unknown, allowed?: readonly string[]): string[] => {
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || s === '')) bad(field, 'a non-empty array of strings', v);
    const list = v as string[];
    for (const [i, s] of list.entries()) {
      if (allowed && !allowed.includes(s)) bad(`${field}[${i}]`, `one of ${allowed.join(', ')}`, s);
      if (list.indexOf(s) !== i) bad(`${field}[${i}]`, 'no duplicates', s);
    }
    return list;
  };

  const methods = strings('methods', o.methods, METHODS);
  const datasets = strings('datasets', o.datasets);
  let seeds: number[];
  if (Number.isInteger(o.seeds) && (o.seeds as number) > 0 && (o.seeds as number) <= MAX_SEEDS) seeds = Array.from({ length: o.seeds as number }, (_, i) => i);
  else if (Array.isArray(o.seeds) && o.seeds.length > 0 && o.seeds.every((s) => Number.isInteger(s) && s >= 0) && new Set(o.seeds).size === o.seeds.length) seeds = o.seeds as number[];
  else return bad('seeds', `a positive count up to ${MAX_SEEDS}, or an array of distinct non-negative integers`, o.seeds);

  const cfg: SweepConfig = {
    sources: table('sources', o.sources, undefined, 'source name'),
    base: o.base === undefined ? {} : settings('base', o.base),
    methods,
    datasets,
    seeds,
    perMethod: table('perMethod', o.perMethod, methods, 'method of this sweep'),
    perDataset: table('perDataset', o.perDataset, datasets, 'dataset of this sweep'),
    variants: {},
  };
  if (o.variants !== undefined && !isObject(o.variants)) bad('variants', 'an object of variant name → {methods, settings}', o.variants);
  for (const [name, v] of Object.entries((o.variants ?? {}) as Settings)) {
    const field = `variants.${name}`;
    if (!/^[A-Za-z0-9._-]+$/.test(name) || METHODS.includes(name) || name === 'sources') bad(field, 'a folder name of letters, digits, ".", "_" or "-", not a method\'s name or "sources"', name);
    if (!isObject(v)) bad(field, 'an object {methods, settings}', v);
    for (const k of Object.keys(v as Settings)) if (!['methods', 'settings', 'description'].includes(k)) bad(`${field}.${k}`, 'methods, settings or description (unknown field)', (v as Settings)[k]);
    const x = v as Settings;
    cfg.variants[name] = { methods: strings(`${field}.methods`, x.methods, METHODS), settings: settings(`${field}.settings`, x.settings ?? {}) };
  }
  for (const [name] of Object.entries(cfg.sources)) if (!/^[A-Za-z0-9._-]+$/.test(name)) bad(`sources.${name}`, 'a name of letters, digits, ".", "_" or "-"', name);
  return cfg;
}

/** A dataset spec as a folder name: glyphs → glyphs, imagefolder:/data/x → imagefolder_data_x. */
export function datasetSlug(data: string): string {
  return data.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');
}

/** Later objects win; nested plain objects merge. */
function merge(...layers: Settings[]): Settings {
  const out: Settings = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Settings, v) : v;
  }
  return out;
}

/**
 * Every job of a sweep with its full training configuration, checked by makeConfig; an error
 * names the section that set the bad field (e.g. perMethod.l2sp.lr).
 */
export function planSweep(cfg: SweepConfig, output: string, o: { sourcesDir?: string; where?: string } = {}): { sources: Job[]; runs: Job[] } {
  const where = o.where ?? 'sweep config';
  const sourcesDir = resolve(o.sourcesDir ?? join(output, 'sources'));
  const weightsOf = (name: string) => join(sourcesDir, name, 'weights.safetensors');
  const build = (layers: [string, Settings][], fixed: Settings): TrainConfig => {
    const s = merge(...layers.map(([, l]) => l), fixed);
    // Options of other methods (set for the whole sweep or a variant) do not apply to this run;
    // set for this method (perMethod), they are an error that makeConfig reports.
    const own = Object.keys(getMethod(s.method as string).options);
    for (const k of METHOD_FIELDS) if (!own.includes(k) && !layers.some(([name, l]) => name.startsWith('perMethod.') && l[k] !== undefined)) delete s[k];
    for (const f of ['weights', 'deeperWeights']) {
      const v = s[f];
      if (typeof v !== 'string' || !v.startsWith('source:')) continue;
      const name = v.slice('source:'.length);
      if (!cfg.sources[name]) {
        const from = [...layers].reverse().find(([, l]) => l[f] !== undefined)?.[0] ?? '';
        throw new SweepConfigError(`${from}.${f}`, `a file, or source:<name> with a name from sources (${Object.keys(cfg.sources).join(', ') || 'none given'})`, v, where);
      }
      s[f] = weightsOf(name);
    }
    // Absolute paths: config.json must mean the same from any working directory.
    for (const f of ['weights', 'deeperWeights']) if (typeof s[f] === 'string') s[f] = resolve(s[f] as string);
    try {
      return makeConfig(s as Parameters<typeof makeConfig>[0]);
    } catch (e) {
      const m = /config field "([^"]+)": (.*)$/s.exec((e as Error).message);
      if (!m) throw new Error(`${where}: ${(e as Error).message}`);
      const top = m[1].split('.')[0];
      const from = [...layers].reverse().find(([, l]) => l[top] !== undefined)?.[0];
      throw new Error(`${where}: field "${from ? `${from}.${m[1]}` : m[1]}": ${m[2]}`);
    }
  };
  const sources = Object.entries(cfg.sources).map(([name, s]): Job => {
    if (s.method !== undefined && s.method !== 'scratch') throw new SweepConfigError(`sources.${name}.method`, 'nothing, or "scratch" (a source is trained from scratch)', s.method, where);
    for (const f of ['data', 'arch']) if (s[f] === undefined) throw new SweepConfigError(`sources.${name}.${f}`, 'a value (every source names its dataset and architecture)', undefined, where);
    return { kind: 'source', name, dir: join(sourcesDir, name), config: build([[`sources.${name}`, s]], { method: 'scratch' }) };
  });
  const slugs = new Map<string, string>();
  for (const d of cfg.datasets) {
    const slug = datasetSlug(d);
    if (slugs.has(slug)) throw new SweepConfigError('datasets', `datasets with distinct folder names (${slugs.get(slug)} and ${d} are both "${slug}")`, cfg.datasets, where);
    slugs.set(slug, d);
  }
  const runs: Job[] = [];
  // The sweep's own runs, then each variant's (only its methods that the sweep runs).
  const groups: [string, string[], [string, Settings][]][] = [
    ['', cfg.methods, []],
    ...Object.entries(cfg.variants).map(([v, x]): [string, string[], [string, Settings][]] => [v, x.methods.filter((m) => cfg.methods.includes(m)), [[`variants.${v}.settings`, x.settings]]]),
  ];
  for (const [variant, methods, extra] of groups) {
    for (const method of methods) {
      for (const data of cfg.datasets) {
        for (const seed of cfg.seeds) {
          const layers: [string, Settings][] = [['base', { arch: 'resnet26', ...cfg.base }], [`perDataset.${data}`, cfg.perDataset[data] ?? {}], [`perMethod.${method}`, cfg.perMethod[method] ?? {}], ...extra];
          const name = join(variant, method, datasetSlug(data), `seed${seed}`);
          runs.push({ kind: 'run', name, dir: join(output, name), config: build(layers, { method, data, seed }) });
        }
      }
    }
  }
  // Only the source models that some run starts from (a sweep narrowed by --methods may need fewer).
  const used = new Set(runs.flatMap((r) => [r.config.weights, r.config.deeperWeights]));
  return { sources: sources.filter((s) => used.has(weightsOf(s.name))), runs };
}
