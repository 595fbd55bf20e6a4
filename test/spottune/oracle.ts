// What the SpotTune oracle (scripts/fixtures_spottune.py) and these tests share: values of
// weights and inputs as a function of their names (the same 32-bit hash on both sides, computed
// exactly in float64 and rounded once to float32), the sketch of large tensors, the comparison
// within a relative tolerance, and the case runner with its tolerances (check).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import type { Module } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { Agent, createBackbone, type Backbone } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet } from '../../src/spottune/index.js';

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

/** Per kind of comparison (first word of `what`), for reports: the largest relative difference, and the largest share of its tolerance used. */
export const worstSeen = new Map<string, { rel: number; share: number }>();
function note(what: string, rel: number, tol: number): void {
  const kind = what.split(' ')[0];
  const w = worstSeen.get(kind) ?? { rel: 0, share: 0 };
  worstSeen.set(kind, { rel: Math.max(w.rel, rel), share: Math.max(w.share, tol > 0 ? rel / tol : rel > 0 ? Infinity : 0) });
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
  let ps = probes.get(a.length);
  if (!ps) probes.set(a.length, (ps = [0, 1, 2, 3].map((j) => hashUniform(`probe${j}`, a.length))));
  const dots = ps.map((p) => { let dot = 0; for (let i = 0; i < a.length; i++) dot += a[i] * p[i]; return dot; });
  const worst = Math.max(Math.abs(l2 - scale) / (scale || 1), ...ps.map((p, j) => Math.abs(dots[j] - expected.dots[j]) / (scale * norm(p) || 1)));
  note(what, worst, tol);
  assert.ok(Math.abs(l2 - scale) <= tol * scale, `${what}: norm ${l2}, oracle ${scale} (allowed ±${(tol * scale).toExponential(2)})`);
  ps.forEach((p, j) => {
    const bound = tol * scale * norm(p);
    assert.ok(Math.abs(dots[j] - expected.dots[j]) <= bound, `${what}: probe ${j}: ${dots[j]}, oracle ${expected.dots[j]} (allowed ±${bound.toExponential(2)})`);
  });
  return worst;
}

/** ‖a − e‖ ≤ tol·‖e‖; returns the relative difference. */
export function assertValues(a: ArrayLike<number>, e: number[], what: string, tol = TOL): number {
  assert.equal(a.length, e.length, `${what}: ${a.length} values, the oracle has ${e.length}`);
  let d = 0;
  for (let i = 0; i < e.length; i++) d += (a[i] - e[i]) ** 2;
  const rel = Math.sqrt(d) / (norm(e) || 1);
  note(what, rel, tol);
  assert.ok(rel <= tol, `${what}: relative difference ${rel.toExponential(3)} > ${tol}\n  ours   ${Array.from(a).slice(0, 6).map((x) => x.toPrecision(7)).join(', ')}\n  oracle ${e.slice(0, 6).map((x) => x.toPrecision(7)).join(', ')}`);
  return rel;
}

export const values = (t: Tensor) => Array.from(t.detach().double().contiguous().data() as Float64Array);

function build(f: any): SpotTuneModel {
  const c = f.case;
  const backbone = (): Backbone => {
    const net = createBackbone(c.arch, { numClasses: c.classes, width: c.width });
    fillByName(net, 'net:');
    return net;
  };
  // the fine-tuned blocks differ from the frozen ones (as after some training; equal branches
  // would give the policy no gradient at all)
  const tuned = backbone();
  tuned.namedChildren().filter(([k]) => k.startsWith('layer')).forEach(([k, layer]) => {
    for (const [b, block] of layer.namedChildren()) fillByName(block, `tuned:${k}.${b}.`);
  });
  const net = new TwoBranchNet(tuned, backbone());
  const agent = new Agent({ numBlocks: f.blocks, width: c.agentWidth });
  fillByName(agent, 'agent:');
  return new SpotTuneModel(net, { kind: 'agent', agent }, { tau: c.tau, evalRouting: 'argmax', globalK: c.globalK });
}

/**
 * Relative tolerances (docs/method-checks.md). The oracle's values are float64; its fixture also
 * holds, per compared tensor, how far float32 lands from them when nothing is wrong: `spread`,
 * the larger difference of PyTorch's own float32 runs (contiguous and channels-last), and
 * `spreadWinograd`, also that of a float64 run with the Winograd kernel's rounding on its 3×3
 * convolutions. A comparison allows SPREAD_TIMES that spread, or its floor if larger: the first
 * step's forward pass 1e-5, its gradients 2e-5 (1e-4 with Winograd convolutions); the trajectory
 * (three SGD steps at lr 0.1, which amplify any rounding: later steps, displacements, running
 * statistics, evaluation) 2e-3, compared without Winograd. On a well-conditioned case the floor
 * decides; on ResNet-50, whose early-layer gradients float32 cannot pin better than a few
 * percent (PyTorch's contiguous and channels-last runs differ by that much), the spread does.
 */
const FLOOR = { forward: 1e-5, grad: 2e-5, gradWinograd: 1e-4, trajectory: 2e-3 };
export const SPREAD_TIMES = 4;
interface Spread { spread: number; spreadWinograd: number }
const allowed = (floor: number, s: Spread, winograd: boolean) => Math.max(floor, SPREAD_TIMES * (winograd ? s.spreadWinograd : s.spread));

/** Runs an oracle case (fixtures/spottune/<name>.json) and compares it, Winograd convolutions on or off. */
export function check(name: string, winograd: boolean): void {
  const f = fixture(`${name}.json`);
  const c = f.case;
  torch.useWinograd(winograd);
  try {
    torch.tidy(() => {
      const m = build(f);
      const params = m.module.namedParameters();
      assert.deepEqual(params.map(([k]) => k).sort(), Object.keys(f.grads).sort(), 'the same parameters as the oracle');
      const start = new Map(params.map(([k, p]) => [k, torch.keep(p.detach().clone())]));
      const groups = m.paramGroups();
      const opts = groups.map((g) => new SGD(g.params, g.role === 'agent'
        ? { lr: c.lrAgent, momentum: c.momentum, weightDecay: c.weightDecayAgent }
        : { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay }));
      const shape = [c.batch, 3, c.size, c.size];
      const uniform = (u: number[]) => torch.tensor(Float32Array.from(u), { shape: [c.batch, f.blocks, 2] });
      m.setTraining(true);
      // the fixture holds one step where float32 cannot follow the trajectory (a decision flips)
      for (let step = 0; step < f.steps.length; step++) {
        torch.tidy(() => {
          const out = m.forwardTrain(image(`input:${step}`, shape), uniform(f.uniform[step]));
          let loss = torch.crossEntropy(out.logits, torch.tensor(f.labels[step], { dtype: 'int64' }));
          const reg = m.regularizer(out);
          if (reg) loss = loss.add(reg);
          const e = f.steps[step];
          const floor = step === 0 ? FLOOR.forward : FLOOR.trajectory;
          if (step === 0 || !winograd) {
            assertValues(values(out.decisions), e.decisions, `step ${step} decisions`, 0);
            assertValues(values(out.logits), e.logits, `step ${step} logits`, allowed(floor, e.spread.logits, winograd));
            assertValues([loss.item()], [e.loss], `step ${step} loss`, allowed(floor, e.spread.loss, winograd));
          }
          opts.forEach((o) => o.zeroGrad());
          loss.backward();
          if (step === 0) {
            for (const [k, p] of params) {
              if (f.grads[k] === null) assert.ok(p.frozen && p.grad === undefined, `${k}: frozen, as in the oracle`);
              else assertClose(p.grad!, f.grads[k], `gradient of ${k}`, allowed(winograd ? FLOOR.gradWinograd : FLOOR.grad, f.grads[k], winograd));
            }
          }
          opts.forEach((o) => o.step());
        });
      }
      if (!winograd && f.trajectory) {
        for (const [k, p] of params) {
          torch.tidy(() => {
            const moved = p.detach().sub(start.get(k)!);
            if (f.grads[k] === null) assert.equal(moved.abs().max().item(), 0, `${k} is frozen: bit for bit`);
            assertClose(moved, f.displacement[k], `displacement of ${k} after 3 steps`, allowed(FLOOR.trajectory, f.displacement[k], false));
          });
        }
        const buffers = [...m.module.stateDict()].filter(([k]) => /running_(mean|var)$/.test(k));
        assert.equal(buffers.length, Object.keys(f.buffers).length);
        for (const [k, b] of buffers) assertClose(b, f.buffers[k], `running statistics ${k} after 3 steps`, allowed(FLOOR.trajectory, f.buffers[k], false));

        m.setTraining(false);
        const x = image('input:eval', shape);
        for (const routing of ['argmax', 'sample'] as const) {
          const e = f.eval[routing];
          const out = m.forwardEval(x, routing, uniform(f.eval.uniform));
          const tol = allowed(FLOOR.trajectory, e.spread, false);
          assertValues(values(out.decisions), e.decisions, `eval ${routing} decisions`, 0);
          assertValues(values(out.logits), e.logits, `eval ${routing} logits (routed)`, tol);
          assertValues(values(torch.noGrad(() => m.module.forward(x, out.decisions))), e.logits, `eval ${routing} logits (both branches)`, tol);
        }
      }
      torch.dispose([...start.values()]);
      opts.forEach((o) => o.dispose());
      m.dispose();
    });
  } finally {
    torch.useWinograd(true);
    if (process.env.ORACLE_REPORT) console.log(`${name} winograd ${winograd}: ${[...worstSeen].map(([k, v]) => `${k} ${v.rel.toExponential(1)} (${v.share.toFixed(2)} of allowed)`).join(', ')}`);
    worstSeen.clear();
  }
}
