// What the SpotTune oracle (scripts/fixtures_spottune.py) and these tests share: values of
// weights and inputs as a function of their names (the same 32-bit hash on both sides, computed
// exactly in float64 and rounded once to float32), the sketch of large tensors, and the
// comparison within 1e-5 relative.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import type { Module } from '../../src/nn/index.js';

export const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/spottune/${name}`, import.meta.url), 'utf8'));
export const fixturePath = (name: string) => new URL(`../../fixtures/spottune/${name}`, import.meta.url).pathname;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** n values in [-1, 1): hash_uniform of the oracle. */
export function hashUniform(key: string, n: number): Float64Array {
  const seed = fnv1a(key);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let h = (seed + Math.imul(i, 0x9e3779b1)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = h / 2 ** 31 - 1;
  }
  return out;
}

/** named_value of the oracle: what a parameter or buffer holds, from its key and what it is. */
export function namedValue(key: string, name: string, shape: readonly number[]): Tensor {
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (last === 'num_batches_tracked') return torch.zeros([], { dtype: 'int64' });
  const n = shape.reduce((a, b) => a * b, 1);
  const u = hashUniform(key, n);
  const v = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    if (last === 'running_var') v[i] = 1.0 + 0.25 * u[i];
    else if (last === 'running_mean' || last === 'bias') v[i] = 0.1 * u[i];
    else if (shape.length === 1) v[i] = 1.0 + 0.2 * u[i];
    else v[i] = u[i] * Math.sqrt(6.0 / fanIn);
  }
  return torch.tensor(v, { shape: [...shape] });
}

/** Sets every tensor of the module's state dict from prefix + its name. */
export function fillByName(m: Module<any[], unknown>, prefix: string): void {
  const sd = new Map([...m.stateDict()].map(([k, t]) => [k, namedValue(prefix + k, k, t.shape)]));
  m.loadStateDict(sd);
}

export function image(key: string, shape: number[]): Tensor {
  return torch.tensor(Float32Array.from(hashUniform(key, shape.reduce((a, b) => a * b, 1))), { shape });
}

export const TOL = Number(process.env.ORACLE_TOL ?? 1e-5);

/** The largest relative difference seen per kind of comparison (first word of `what`), for reports. */
export const worstSeen = new Map<string, number>();
function note(what: string, rel: number): void {
  const kind = what.split(' ')[0];
  worstSeen.set(kind, Math.max(worstSeen.get(kind) ?? 0, rel));
}
const probes = new Map<number, Float64Array[]>();

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/**
 * `actual` within `tol` relative of the oracle's summary: ‖a − e‖ ≤ tol·‖e‖ for tensors kept whole;
 * for sketched ones, the norm and each probe's dot product within what that bound allows
 * (|Δ(a·p)| ≤ tol·‖e‖·‖p‖, Cauchy–Schwarz).
 */
export function assertClose(actual: Tensor, expected: any, what: string, tol = TOL): number {
  const a = Float64Array.from(actual.detach().double().contiguous().data() as Float64Array);
  if ('values' in expected) return assertValues(a, expected.values, what, tol);
  assert.equal(a.length, expected.n, `${what}: ${a.length} elements, the oracle has ${expected.n}`);
  const l2 = norm(a);
  const scale = expected.l2;
  assert.ok(Math.abs(l2 - scale) <= tol * scale, `${what}: norm ${l2}, oracle ${scale}`);
  let ps = probes.get(a.length);
  if (!ps) probes.set(a.length, (ps = [0, 1, 2, 3].map((j) => hashUniform(`probe${j}`, a.length))));
  let worst = Math.abs(l2 - scale) / (scale || 1);
  note(what, worst);
  ps.forEach((p, j) => {
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i] * p[i];
    const bound = tol * scale * norm(p);
    assert.ok(Math.abs(dot - expected.dots[j]) <= bound, `${what}: probe ${j}: ${dot}, oracle ${expected.dots[j]} (allowed ±${bound.toExponential(2)})`);
    worst = Math.max(worst, Math.abs(dot - expected.dots[j]) / (scale * norm(p) || 1));
    note(what, worst);
  });
  return worst;
}

/** ‖a − e‖ ≤ tol·‖e‖; returns the relative difference. */
export function assertValues(a: ArrayLike<number>, e: number[], what: string, tol = TOL): number {
  assert.equal(a.length, e.length, `${what}: ${a.length} values, the oracle has ${e.length}`);
  let d = 0;
  for (let i = 0; i < e.length; i++) d += (a[i] - e[i]) ** 2;
  const rel = Math.sqrt(d) / (norm(e) || 1);
  note(what, rel);
  assert.ok(rel <= tol, `${what}: relative difference ${rel.toExponential(3)} > ${tol}\n  ours   ${Array.from(a).slice(0, 6).map((x) => x.toPrecision(7)).join(', ')}\n  oracle ${e.slice(0, 6).map((x) => x.toPrecision(7)).join(', ')}`);
  return rel;
}

export const values = (t: Tensor) => Array.from(t.detach().double().contiguous().data() as Float64Array);
