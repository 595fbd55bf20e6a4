// A Conv2d+BatchNorm2d+ReLU+pooling+Linear model against Debian's PyTorch (fixtures/nn/model.json,
// made by scripts/fixtures_optim.py): state_dict keys, train-mode forward and gradients,
// running-statistics updates and the eval-mode forward, in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import * as nn from '../../src/nn/index.js';

interface Fixture {
  state: Record<string, { shape: number[]; data: number[] }>;
  input: { shape: number[]; data: number[] };
  target: number[];
  output: number[];
  loss: number;
  grads: Record<string, number[]>;
  buffersAfter: Record<string, number[]>;
  outputEval: number[];
}
const fx = JSON.parse(readFileSync(new URL('../../fixtures/nn/model.json', import.meta.url), 'utf8')) as Fixture;

const f64 = { dtype: 'float64' } as const;
function build(): nn.Sequential {
  return new nn.Sequential(
    new nn.Sequential(new nn.Conv2d(2, 4, 3, { padding: 1, ...f64 }), new nn.BatchNorm2d(4, f64), new nn.ReLU()),
    new nn.MaxPool2d(2),
    new nn.AvgPool2d(2, { stride: 1 }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(4, 3, f64),
  );
}

function fixtureStateDict(): Map<string, torch.Tensor> {
  return new Map(Object.entries(fx.state).map(([k, v]) => [k, torch.tensor(Float64Array.from(v.data), { shape: v.shape, dtype: k.endsWith('num_batches_tracked') ? 'int64' : 'float64' })]));
}

function assertClose(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= tol, `${what}: max |difference| ${worst} > ${tol}`);
}

test('state_dict keys and order are PyTorch\'s', () => {
  const model = build();
  const keys = torch.tidy(() => [...model.stateDict().keys()]);
  assert.deepEqual(keys, Object.keys(fx.state));
  model.dispose();
});

test('train-mode forward, gradients and running statistics match PyTorch within 1e-10', () => {
  const model = build();
  torch.tidy(() => model.loadStateDict(fixtureStateDict()));
  const start = torch.memory().tensors;
  torch.tidy(() => {
    const x = torch.tensor(Float64Array.from(fx.input.data), { shape: fx.input.shape });
    const out = model.train().forward(x);
    const loss = torch.crossEntropy(out, torch.tensor(fx.target, { dtype: 'int64' }));
    loss.backward();
    assertClose(out.data() as Float64Array, fx.output, 1e-10, 'output');
    assertClose([loss.item()], [fx.loss], 1e-10, 'loss');
    for (const [name, p] of model.namedParameters()) assertClose(p.grad!.data() as Float64Array, fx.grads[name], 1e-10, `grad of ${name}`);
    for (const [name, b] of model.namedBuffers()) assertClose(b.toArray(), fx.buffersAfter[name], 1e-10, name);
    assertClose(model.eval().forward(x).data() as Float64Array, fx.outputEval, 1e-10, 'eval output');
  });
  model.zeroGrad();
  assert.equal(torch.memory().tensors, start, 'no tensor handles leak from forward/backward');
  model.dispose();
});
