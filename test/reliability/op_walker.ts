// Calls every public tensor function (the exports of src/torch/ops.ts, the creation and state
// functions of src/torch, and every Tensor method and getter) with bad arguments: wrong shapes,
// dtypes and devices (meta tensors; this build has no CUDA), disposed tensors, non-tensors, NaN,
// huge and negative sizes. Each call must return or throw a JS Error; a segfault or an abort
// kills this process, and the parent (ops.test.ts) reports the call it was making, which is
// written to stdout before each call.
//   node --import tsx test/reliability/op_walker.ts [--combos N] [--seed S]
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Rng, mixSeed, hashString } from '../../src/util/rng.js';
import * as torch from '../../src/torch/index.js';
import * as ops from '../../src/torch/ops.js';
import { Tensor } from '../../src/torch/index.js';

const { values } = parseArgs({ options: { combos: { type: 'string', default: '60' }, seed: { type: 'string', default: '1' }, only: { type: 'string' } } });
const COMBOS = Number(values.combos);
const SEED = Number(values.seed);

const THREADS = Number(process.env.SPOTTUNE_THREADS ?? 2);
const say = (line: string) => writeSync(1, line + '\n');

/** Tensors of every kind that can be wrong: dtype, device, shape, layout, lifetime. */
function tensorPool(): Tensor[] {
  const disposed = torch.ones([2, 3]);
  disposed.dispose();
  const leaf = torch.rand([2, 3]).requiresGrad_(true);
  return [
    torch.rand([2, 3]),
    torch.rand([1, 3, 4, 4]),
    torch.tensor(0.5),
    torch.zeros([0, 3]),
    torch.rand([2, 3], { dtype: 'float64' }),
    torch.tensor([0, 1, 2], { dtype: 'int64' }),
    torch.tensor([[0, 5], [-7, 1]], { dtype: 'int64' }),
    torch.tensor([1, 2, 3], { dtype: 'int32' }),
    torch.tensor([[true, false, true], [false, false, true]]),
    torch.tensor([1, 2, 250, 3, 4, 5], { dtype: 'uint8', shape: [2, 3] }),
    torch.zeros([2, 3], { dtype: 'float16' }),
    torch.zeros([2, 3], { dtype: 'bfloat16' }),
    torch.rand([3, 2]).transpose(0, 1),
    torch.rand([1, 3]).expand([2, 3]),
    leaf,
    leaf.mul(2),
    torch.zeros([2, 3], { device: 'meta' }),
    torch.full([2, 3], NaN),
    disposed,
  ];
}

type Maker = (rng: Rng, t: Tensor[]) => unknown;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length)];
const NUMBERS = [0, 1, -1, 2, 3, 0.5, -100, NaN, Infinity, -Infinity, 2 ** 40, 2 ** 53, 1e18, -1e18, true, false];
const ARRAYS: unknown[] = [[], [2, 3], [3, 2], [-1], [0], [6], [1, 3, 4, 4], [2 ** 40, 2 ** 40], [-2], [NaN], [1e18], [2, 3, -1], ['a'], [[1]], [1, 2, 3, 4, 5, 6, 7, 8, 9], [2 ** 62 + 2 ** 12, 4]];
const MISC: Maker[] = [
  () => undefined, () => null, () => 'a', () => 'cpu', () => 'cuda:0', () => 'meta', () => 'garbage', () => ({}),
  () => ({ dtype: 'float16' }), () => ({ dtype: 'bogus' }), () => ({ device: 'cuda:0' }), () => ({ device: 'meta' }), () => ({ requiresGrad: true }),
  () => ({ size: [2, 2] }), () => ({ scaleFactor: 2 ** 40 }), () => ({ mode: 'bilinear', size: [3, 3] }), () => ({ reduction: 'bogus' }),
  () => ({ labelSmoothing: 2 }), (rng, t) => ({ weight: pick(rng, t) }), (rng, t) => ({ dtype: 'int64', shape: [2, 2], device: pick(rng, ['cpu', 'meta', 'x']) }),
  () => () => 1, () => Symbol('s'), () => 10n, () => 2n ** 70n, () => new Float32Array(6), () => new Uint16Array(3),
  (rng, t) => [pick(rng, t), pick(rng, t)], (rng, t) => [pick(rng, t), null], () => new Map(),
];

function arg(rng: Rng, t: Tensor[], first: boolean): unknown {
  const r = rng.float();
  if (r < (first ? 0.8 : 0.45)) return pick(rng, t);
  if (r < 0.7) return pick(rng, NUMBERS);
  if (r < 0.85) return pick(rng, ARRAYS);
  return pick(rng, MISC)(rng, t);
}

function describe(x: unknown): string {
  if (x instanceof Tensor) {
    if (x.isDisposed) return 'T(disposed)';
    return `T(${x.dtype}${x.device === 'cpu' ? '' : `@${x.device}`}[${x.shape}]${x.isContiguous ? '' : 'nc'})`;
  }
  if (typeof x === 'function') return 'fn';
  if (typeof x === 'symbol' || typeof x === 'bigint') return String(x);
  if (Array.isArray(x)) return `[${x.map(describe).join(',')}]`;
  if (x instanceof Map) return 'Map';
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  if (typeof x === 'object' && x !== null) return `{${Object.entries(x).map(([k, v]) => `${k}:${describe(v)}`).join(',')}}`;
  return String(x);
}

const problems: string[] = [];
let calls = 0;
let threw = 0;

/** Runs one call; a throw must be an Error with a message. Returns whether it succeeded. */
function attempt(label: string, fn: () => unknown): boolean {
  calls++;
  say(label);
  try {
    torch.tidy(() => {
      const r = fn();
      // Results are read too: a broken tensor (bad view, bad storage) fails when touched.
      for (const x of Array.isArray(r) ? r : [r]) if (x instanceof Tensor && !x.isDisposed && x.device === 'cpu' && x.numel < 1e6) x.data();
    });
    return true;
  } catch (e) {
    threw++;
    if (!(e instanceof Error) || e.message.trim() === '') problems.push(`${label}: threw ${describe(e)} instead of an Error with a message`);
    return false;
  } finally {
    // Calls may change global state; put back what later calls rely on.
    if (torch.getNumThreads() !== THREADS) torch.setNumThreads(THREADS); // (a change rebuilds the pool: only when needed)
    torch.manualSeed(0);
  }
}

/** After a call succeeded, the same call with each tensor disposed in turn must fail saying so. */
function disposedVariants(label: string, f: (...a: unknown[]) => unknown, self: Tensor | undefined, args: unknown[]): void {
  const slots = [self, ...args].map((a, k) => (a instanceof Tensor ? k : -1)).filter((k) => k >= 0);
  for (const k of slots) {
    const gone = torch.zeros([2, 3]);
    gone.dispose();
    const a = [self, ...args];
    a[k] = gone;
    const l = `${label} with argument ${k} disposed`;
    say(l);
    calls++;
    try {
      torch.tidy(() => (self ? f.apply(a[0], a.slice(1)) : f(...a.slice(1))));
      // Some functions legitimately ignore an argument (e.g. an unused option); only report calls that used it.
    } catch (e) {
      threw++;
      if (!(e instanceof Error) || !/dispose/.test(e.message)) problems.push(`${l}: expected an error saying the tensor was disposed, got: ${(e as Error).message}`);
    }
  }
}

const timing = new Map<string, number>();
function walk(name: string, f: (...a: unknown[]) => unknown, asMethod: boolean): void {
  const t0 = performance.now();
  try {
    walkCalls(name, f, asMethod);
  } finally {
    timing.set(name, performance.now() - t0);
  }
}
function walkCalls(name: string, f: (...a: unknown[]) => unknown, asMethod: boolean): void {
  const rng = new Rng(mixSeed(SEED, hashString(name)));
  const arity = Math.min(f.length + 2, 8);
  let successes = 0;
  for (let c = 0; c < COMBOS; c++) {
    const t = tensorPool();
    const self = asMethod ? pick(rng, t) : undefined;
    const n = rng.int(0, arity + 1);
    const args = Array.from({ length: n }, (_, k) => arg(rng, t, !asMethod && k === 0));
    const label = `${name}(${asMethod ? `this=${describe(self)}; ` : ''}${args.map(describe).join(', ')})`;
    const ok = attempt(label, () => (asMethod ? f.apply(self, args) : f(...args)));
    if (ok && successes < 3 && [self, ...args].some((a) => a instanceof Tensor && !a.isDisposed)) {
      successes++;
      disposedVariants(label, f, self, args);
    }
    torch.dispose(t);
  }
}

// The public functions: every export of ops.ts, and the others of the torch module that take arguments.
const skip = new Set(['Op']); // a class, constructed only by op()
const functions = new Map<string, (...a: unknown[]) => unknown>();
for (const [k, v] of Object.entries(ops)) if (typeof v === 'function' && !skip.has(k)) functions.set(k, v as (...a: unknown[]) => unknown);
for (const k of ['tensor', 'fromBytes', 'manualSeed', 'setRngState', 'setNumThreads', 'noGrad', 'enableGrad', 'tidy', 'keep', 'dispose'] as const) {
  functions.set(k, torch[k] as (...a: unknown[]) => unknown);
}
// op(schema) reaches any ATen operator: a few schemas with raw enum codes, which no typed wrapper passes.
const raw = (schema: string) => (...a: unknown[]) => ops.op(schema).t(...a.map((x) => (x instanceof Tensor ? x.handle : x)));
functions.set("op('to.dtype')", raw('to.dtype'));
functions.set("op('zeros')", raw('zeros'));
functions.set("op('empty.memory_format')", raw('empty.memory_format'));
functions.set("op('contiguous')", raw('contiguous'));

// Tensor methods and getters (and the grad setter).
const proto = Tensor.prototype as unknown as Record<string, unknown>;
const methods = Object.getOwnPropertyNames(Tensor.prototype).filter((k) => k !== 'constructor');

const only = values.only;
for (const [name, f] of functions) if (!only || name === only) walk(name, f, false);
for (const k of methods) {
  const d = Object.getOwnPropertyDescriptor(Tensor.prototype, k)!;
  if (d.get && (!only || only === `get ${k}`)) walk(`get ${k}`, function (this: unknown) { return d.get!.call(this); }, true);
  if (d.set && (!only || only === `set ${k}`)) walk(`set ${k}`, function (this: unknown, v: unknown) { d.set!.call(this, v); }, true);
  if (typeof d.value === 'function' && (!only || only === `Tensor.${k}`)) walk(`Tensor.${k}`, proto[k] as (...a: unknown[]) => unknown, true);
}
// dtype codes the typed wrappers never pass, through the raw path: every code, and out of range.
for (let code = -2; code < 40; code++) {
  attempt(`op('to.dtype')(T, ${code})`, () => raw('to.dtype')(torch.rand([2]), code));
  attempt(`op('zeros')([2], ${code})`, () => raw('zeros')([2], code));
  attempt(`op('empty.memory_format')([2,2], float, layout ${code})`, () => raw('empty.memory_format')([2, 2], 6, code));
  attempt(`op('contiguous')(T, format ${code})`, () => raw('contiguous')(torch.rand([1, 2, 2, 2]), code));
}

if (process.env.WALK_TIMING) console.error([...timing].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join('\n'));
say(`SUMMARY ${JSON.stringify({ functions: functions.size, methods: methods.length, calls, threw, problems })}`);
