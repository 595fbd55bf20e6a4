// Declared options: each training setting and each method's option is declared once, with its
// type, default, range and help; the CLI flags, config.json validation, the sweep file's fields
// and `spottune methods` are all derived from these declarations.
//
// An option's name is its key in config.json and sweep files; its flag is the name in kebab
// case (lrAgent → --lr-agent) unless the declaration names another.

export interface OptionSpec<T> {
  /** What a valid value is, for error messages ("a positive integer"). */
  readonly expected: string;
  readonly help: string;
  /** The value when the option is not given; absent for options without a default. */
  readonly default?: T;
  /** Placeholder of the flag's argument in --help ("<x>"); absent for boolean switches. */
  readonly arg?: string;
  /** Allowed values, for --help (choice options). */
  readonly choices?: readonly string[];
  /** The flag, when it is not the name in kebab case. */
  readonly flag?: string;
  /** Whether a value (from JSON) is valid. */
  check(value: unknown): boolean;
  /** The value of the flag's text (throws with `expected` when it is not valid). */
  parse(text: string): T;
}

/** The value type of a declared option. */
export type OptionValue<S> = S extends OptionSpec<infer T> ? T : never;
/** The values of a record of declared options. */
export type OptionValues<R> = { [K in keyof R]: OptionValue<R[K]> };

/** Options declared without a default may be absent: their value type includes undefined. */
type Spec<T, O> = OptionSpec<O extends { default: T } ? T : T | undefined>;

interface Common<T> {
  help: string;
  default?: T;
  flag?: string;
  arg?: string;
}

// The builders below type their results; inside, a value is any value that passed check().
function spec(o: Common<any> & { expected: string; choices?: readonly string[]; check(v: unknown): boolean; fromText(text: string): unknown }): OptionSpec<any> {
  return {
    expected: o.expected,
    help: o.help,
    default: o.default,
    arg: o.arg,
    choices: o.choices,
    flag: o.flag,
    check: o.check,
    parse(text: string) {
      const v = o.fromText(text);
      if (!o.check(v)) throw new Error(`expected ${o.expected}, got "${text}"`);
      return v;
    },
  };
}

const inRange = (v: number, r: { min?: number; max?: number; above?: number; below?: number }) =>
  (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max) && (r.above === undefined || v > r.above) && (r.below === undefined || v < r.below);

function rangeWords(kind: string, r: { min?: number; max?: number; above?: number }): string {
  if (r.above !== undefined && r.max !== undefined) return `${kind} in (${r.above}, ${r.max}]`;
  if (r.min !== undefined && r.max !== undefined) return `${kind} in [${r.min}, ${r.max}]`;
  if (r.above === 0) return `a positive ${kind.replace(/^an? /, '')}`;
  if (r.min === 0) return `a non-negative ${kind.replace(/^an? /, '')}`;
  if (r.min === 1 && kind === 'an integer') return 'a positive integer';
  if (r.above !== undefined) return `${kind} > ${r.above}`;
  if (r.min !== undefined) return `${kind} ≥ ${r.min}`;
  return kind;
}

/** A finite number, optionally bounded (`above` and `below` are exclusive bounds). */
export function number<const O extends Common<number> & { min?: number; max?: number; above?: number; below?: number; expected?: string }>(o: O): Spec<number, O> {
  return spec({ arg: '<x>', ...o, expected: o.expected ?? rangeWords('a number', o), check: (v) => typeof v === 'number' && Number.isFinite(v) && inRange(v, o), fromText: Number });
}

/** An integer, optionally bounded, or one of `values`. */
export function integer<const O extends Common<number> & { min?: number; max?: number; values?: readonly number[]; expected?: string }>(o: O): Spec<number, O> {
  const expected = o.expected ?? (o.values ? o.values.join(' or ') : rangeWords('an integer', o));
  return spec({ arg: '<n>', ...o, expected, check: (v) => Number.isSafeInteger(v) && inRange(v as number, o) && (!o.values || o.values.includes(v as number)), fromText: Number });
}

export function text<const O extends Common<string>>(o: O): Spec<string, O> {
  return spec({ arg: '<text>', ...o, expected: 'a non-empty string', check: (v) => typeof v === 'string' && v !== '', fromText: (t) => t });
}

/** A string matching `pattern` (e.g. a device name). */
export function matching<const O extends Common<string> & { pattern: RegExp; expected: string }>(o: O): Spec<string, O> {
  return spec({ arg: '<text>', ...o, check: (v) => typeof v === 'string' && o.pattern.test(v), fromText: (t) => t });
}

export function choice<const C extends string, const O extends Common<C> = Common<C>>(choices: readonly C[], o: O): Spec<C, O> {
  return spec({ arg: '<choice>', ...o, choices, expected: choices.join(', ').replace(/, ([^,]*)$/, ' or $1'), check: (v) => choices.includes(v as C), fromText: (t) => t });
}

/** A switch: false unless given. */
export function flag(o: Omit<Common<boolean>, 'default' | 'arg'>): OptionSpec<boolean> {
  return spec({ ...o, default: false, expected: 'true or false', check: (v) => typeof v === 'boolean', fromText: () => true });
}

/** A comma-separated list of integers ≥ min. */
export function integers<const O extends Common<number[]> & { min?: number }>(o: O): Spec<number[], O> {
  const min = o.min ?? 0;
  return spec({
    arg: '<list>', ...o, expected: `an array of integers ≥ ${min}`,
    check: (v) => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= min),
    fromText: (t) => t.split(',').filter(Boolean).map(Number),
  });
}

/** A comma-separated list of finite numbers, of one of the given lengths (`above`: every number greater). */
export function numberList<const O extends Common<number[]> & { lengths: readonly number[]; above?: number }>(o: O): Spec<number[], O> {
  const expected = `${o.lengths.join(' or ')} finite numbers${o.above !== undefined ? `, each > ${o.above}` : ''}`;
  return spec({
    arg: '<list>', ...o, expected,
    check: (v) => Array.isArray(v) && o.lengths.includes(v.length) && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (o.above === undefined || x > o.above)),
    fromText: (t) => t.split(',').filter(Boolean).map(Number),
  });
}

/** A record of numbers given as "a,b" on the command line (e.g. --tau-anneal 0.05,0.5). */
export function numbers<const K extends string, const O extends Common<Record<K, number>> & { expected: string; valid(v: Record<K, number>): boolean } = Common<Record<K, number>> & { expected: string; valid(v: Record<K, number>): boolean }>(keys: readonly K[], o: O): Spec<Record<K, number>, O> {
  return spec({
    arg: `<${keys.join(',')}>`, ...o,
    check: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === keys.length
      && keys.every((k) => typeof (v as Record<K, unknown>)[k] === 'number' && Number.isFinite((v as Record<K, number>)[k])) && o.valid(v as Record<K, number>),
    fromText: (t) => {
      const parts = t.split(',');
      return parts.length === keys.length ? Object.fromEntries(keys.map((k, i) => [k, Number(parts[i])])) : undefined;
    },
  });
}

/** The flag of a declared option: --lr-agent for lrAgent. */
export function flagOf(name: string, s: OptionSpec<unknown>): string {
  return s.flag ?? `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The declared options' defaults (those that have one). */
export function defaultsOf<R extends Record<string, OptionSpec<unknown>>>(specs: R): Partial<OptionValues<R>> {
  return Object.fromEntries(Object.entries(specs).filter(([, s]) => s.default !== undefined).map(([k, s]) => [k, structuredClone(s.default)])) as Partial<OptionValues<R>>;
}
