// Forward and backward of conv, batch norm, pooling, linear and cross-entropy against
// Debian's PyTorch (fixtures/torch/numerics.json, made by scripts/fixtures_torch.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

interface Arr { shape: number[]; data: number[] }
interface Case { inputs: Record<string, Arr>; upstream?: Arr; output: Arr; grads: Record<string, Arr>; [k: string]: unknown }
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/torch/numerics.json', import.meta.url), 'utf8')) as { cases: Record<string, Case> };

const load = (a: Arr, requiresGrad = false) => torch.tensor(Float32Array.from(a.data), { shape: a.shape, requiresGrad });

function assertClose(actual: Tensor, expected: Arr, what: string, tol = 1e-5): void {
  assert.deepEqual([...actual.shape], expected.shape, `${what}: shape`);
  const got = actual.toArray();
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected.data[i]) / (1 + Math.abs(expected.data[i])));
  assert.ok(worst <= tol, `${what}: max relative difference ${worst} > ${tol}`);
}

function check(name: string, fn: (x: Record<string, Tensor>, c: Case) => Tensor): void {
  test(`numerics vs PyTorch: ${name}`, () => {
    torch.tidy(() => {
      const c = fixture.cases[name];
      const ins = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, load(v, k !== 'target')]));
      const out = fn(ins, c);
      assertClose(out, c.output, `${name} output`);
      if (c.upstream) out.mul(load(c.upstream)).sum().backward();
      else out.backward();
      for (const [k, g] of Object.entries(c.grads)) assertClose(ins[k].grad!, g, `${name} grad ${k}`);
    });
  });
}

check('conv2d', ({ x, w, b }) => torch.conv2d(x, w, b, 2, 1));
check('conv2d_groups', ({ x, w }) => torch.conv2d(x, w, undefined, 1, 2, 2, 3));
check('batch_norm_train', ({ x, w, b }, c) => {
  const rm = load(c.running_mean as Arr);
  const rv = load(c.running_var as Arr);
  const y = torch.batchNorm(x, rm, rv, w, b, true, 0.1, 1e-5);
  assertClose(rm, c.running_mean_after as Arr, 'running_mean updated in place');
  assertClose(rv, c.running_var_after as Arr, 'running_var updated in place');
  return y;
});
check('batch_norm_eval', ({ x, w, b }, c) => torch.batchNorm(x, load(c.running_mean as Arr), load(c.running_var as Arr), w, b, false, 0.1, 1e-5));
check('max_pool2d', ({ x }) => torch.maxPool2d(x, 3, 2, 1));
check('avg_pool2d', ({ x }) => torch.avgPool2d(x, 2));
check('adaptive_avg_pool2d', ({ x }) => torch.adaptiveAvgPool2d(x, [4, 3]));
check('linear', ({ x, w, b }) => torch.linear(x, w, b));
check('cross_entropy', ({ logits, target }) => torch.crossEntropy(logits, target.long()).reshape(1));
check('cross_entropy_smooth', ({ logits, target }, c) => torch.crossEntropy(logits, target.long(), { labelSmoothing: c.label_smoothing as number }).reshape(1));
