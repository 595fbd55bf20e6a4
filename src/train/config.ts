// A training run's configuration: every choice that changes the result. Its fields are the
// declared training settings (options.ts) and the options of the run's method (declared with
// the method); defaults are filled and every field checked with errors that name it. Saved as
// config.json beside the run.
import { readFileSync } from 'node:fs';
import { defaultsOf } from '../util/options.js';
import { getMethod, METHODS, type MethodOptions } from '../spottune/index.js';
import { TRAIN_OPTIONS, type TrainSettings } from './options.js';

/** The declared settings, with the method's options (only those of `method` are present). */
export type TrainConfig = TrainSettings & Partial<MethodOptions> & { method: string; arch: string; data: string };

type Given = Partial<TrainConfig> & Pick<TrainConfig, 'method' | 'arch' | 'data'>;

/** The reference code's intended schedule, scaled to the number of epochs: ×0.1 at 40/60/80 of 110. */
export function referenceMilestones(epochs: number): number[] {
  return [40, 60, 80].map((e) => Math.round((e * epochs) / 110)).filter((e) => e > 0 && e < epochs);
}

/** The fields a run of `method` may hold: the training settings and the method's options. */
export function fieldsOf(method: string): string[] {
  return [...Object.keys(TRAIN_OPTIONS), ...Object.keys(getMethod(method).options)];
}

/** The settings' and the method's defaults under the given fields (an unknown method: the settings' only; validation names it). */
function withDefaults<T extends { method: string }>(given: T): T {
  const method = METHODS.includes(given.method) ? defaultsOf(getMethod(given.method).options) : {};
  return { ...defaultsOf(TRAIN_OPTIONS), ...method, ...given };
}

/** Fills the defaults of the settings and of the method's options, then checks every field. */
export function makeConfig(partial: Given): TrainConfig {
  // Fields given as undefined (flags left out) keep their defaults.
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Given;
  const c = withDefaults(given) as TrainConfig;
  if (given.milestones === undefined) c.milestones = c.schedule === 'multistep' ? referenceMilestones(c.epochs) : [];
  validateConfig(c);
  return c;
}

export function validateConfig(c: TrainConfig): void {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new Error(`config field "${field}": expected ${expected}, got ${show(got)}`);
  };
  if (typeof c !== 'object' || c === null || Array.isArray(c)) bad('(top level)', 'an object', c);
  if (!METHODS.includes(c.method)) bad('method', `one of ${METHODS.join(', ')}`, c.method);
  const methodOptions = getMethod(c.method).options;
  const specs = { ...TRAIN_OPTIONS, ...methodOptions } as Record<string, (typeof TRAIN_OPTIONS)[keyof typeof TRAIN_OPTIONS]>;
  for (const [name, value] of Object.entries(c)) {
    const spec = specs[name];
    if (!spec) bad(name, `a field of a ${c.method} run: one of ${fieldsOf(c.method).join(', ')} (unknown field)`, value);
    else if (!spec.check(value)) bad(name, spec.expected, value);
  }
  for (const name of ['method', 'arch', 'data', ...Object.keys(specs).filter((k) => specs[k].default !== undefined)]) {
    if ((c as Record<string, unknown>)[name] === undefined) bad(name, specs[name].expected, undefined);
  }
  if (c.warmupEpochs >= c.epochs) bad('warmupEpochs', 'an integer in [0, epochs)', c.warmupEpochs);
  if ((c.warmupMixed ?? 0) >= c.epochs) bad('warmupMixed', `fewer epochs than the run's ${c.epochs}`, c.warmupMixed);
  if (c.method === 'finetune-deeper' && (!c.deeperArch || !c.deeperWeights)) bad('deeperArch/deeperWeights', 'both set for finetune-deeper', [c.deeperArch, c.deeperWeights]);
}

/** A value for an error message: JSON, cut short (and no stack overflow on deeply nested input). */
function show(x: unknown): string {
  try {
    return (JSON.stringify(x) ?? String(x)).slice(0, 200);
  } catch {
    return Array.isArray(x) ? 'a deeply nested array' : typeof x;
  }
}

/**
 * A run's config.json, parsed and checked; errors name the file. A setting the file lacks (one
 * declared after the run was made) takes its default, which is what the run used.
 */
export function readConfigFile(path: string): TrainConfig {
  let config: TrainConfig;
  try {
    config = JSON.parse(readFileSync(path, 'utf8')) as TrainConfig;
  } catch (e) {
    throw new Error(`${path}: cannot read the run's configuration: ${(e as Error).message}`);
  }
  try {
    if (typeof config === 'object' && config !== null && !Array.isArray(config)) config = withDefaults(config);
    validateConfig(config);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return config;
}

// Where a run computes, not what it computes: a run resumes with other values (a GPU run on the
// CPU, other --workers), so they are left out when a saved configuration is compared.
const PLACEMENT = ['device', 'workers'] as const;

/** Whether two configurations are the same run, whatever their device and workers. */
export function sameRun(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const what = (c: Record<string, unknown>) => JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => !(PLACEMENT as readonly string[]).includes(k))));
  return what(a) === what(b);
}
