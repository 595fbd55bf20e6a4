// The device tests: the same computations on SPOTTUNE_TEST_DEVICE (default cpu; cuda on a GPU
// machine, see scripts/gpu/check.sh) and on the CPU, compared. On the CPU they check the paths
// themselves (device moves, precision, state saved and read back); on CUDA, that libtorch's CUDA
// operators and our CPU kernels agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { GradScaler, SGD } from '../../src/optim/index.js';
import { Agent, resnet26 } from '../../src/models/index.js';
import { SpotTuneModel, TwoBranchNet } from '../../src/spottune/index.js';
import { readWeights, writeWeights } from '../../src/io/tensors.js';

const DEVICE = torch.checkDevice(process.env.SPOTTUNE_TEST_DEVICE ?? 'cpu', 'SPOTTUNE_TEST_DEVICE');
const onGpu = DEVICE !== 'cpu';
// cuDNN may use TF32 for float32 convolutions: compare at its precision on a GPU.
const TOL = onGpu ? 1e-2 : 1e-6;
const relDiff = (a: Tensor, b: Tensor) => torch.tidy(() => a.cpu().float().sub(b.cpu().float()).abs().max().item() / Math.max(1e-12, b.cpu().float().abs().max().item()));

function model(seed: number): SpotTuneModel {
  torch.manualSeed(seed);
  const a = resnet26({ numClasses: 5, width: 0.5 }), b = resnet26({ numClasses: 5, width: 0.5 });
  torch.tidy(() => b.loadStateDict(a.stateDict()));
  const net = new TwoBranchNet(a, b);
  return new SpotTuneModel(net, { kind: 'agent', agent: new Agent({ numBlocks: net.numBlocks, width: 0.25 }) }, { tau: 5, evalRouting: 'argmax' });
}

test(`tensor operators on ${DEVICE} equal the CPU's`, () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    const x = torch.randn([8, 16, 12, 12]).contiguous(torch.memoryFormat.channelsLast), w = torch.randn([16, 16, 3, 3]).mul(0.1);
    const xd = x.to(DEVICE), wd = w.to(DEVICE);
    assert.equal(xd.device, DEVICE);
    assert.ok(relDiff(torch.conv2d(xd, wd, undefined, 1, 1), torch.conv2d(x, w, undefined, 1, 1)) < TOL, 'conv2d');
    const a = torch.randn([64, 32]), b = torch.randn([32, 48]);
    assert.ok(relDiff(torch.matmul(a.to(DEVICE), b.to(DEVICE)), torch.matmul(a, b)) < TOL, 'matmul');
    const labels = torch.randint(0, 48, [64]);
    assert.ok(relDiff(torch.crossEntropy(torch.matmul(a, b).to(DEVICE), labels.to(DEVICE)), torch.crossEntropy(torch.matmul(a, b), labels)) < 1e-5, 'cross-entropy');
  });
});

test(`SpotTune forward and backward on ${DEVICE} equal the CPU's; routed evaluation equals both branches there`, () => {
  const ref = model(2), dev = model(2);
  dev.module.to(DEVICE);
  torch.tidy(() => {
    const x = torch.randn([6, 3, 32, 32]), y = torch.tensor([0, 1, 2, 3, 4, 0], { dtype: 'int64' });
    const decisions = torch.tensor([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1]]).expand(6, 12).contiguous();
    const run = (m: SpotTuneModel, device: string) => {
      m.setTraining(true);
      const xd = torch.toDeviceAsync(x, device);
      const logits = m.module.forward(xd, decisions.to(device));
      torch.crossEntropy(logits, y.to(device)).backward();
      return [logits, ...m.module.net.parameters().map((p) => p.grad!)];
    };
    const [lr, ...gr] = run(ref, 'cpu');
    const [ld, ...gd] = run(dev, DEVICE);
    assert.equal(ld.device, DEVICE);
    assert.ok(relDiff(ld, lr) < TOL, `logits differ by ${relDiff(ld, lr)}`);
    gd.forEach((g, i) => assert.ok(relDiff(g, gr[i]) < 10 * TOL, `gradient ${i} differs by ${relDiff(g, gr[i])}`));
    dev.setTraining(false);
    const xd = x.to(DEVICE), dd = torch.bernoulli(torch.full([6, 12], 0.5, { device: DEVICE }), 0.5);
    const both = torch.noGrad(() => dev.module.forward(xd, dd)), routed = dev.module.routedForward(xd, dd);
    assert.ok(relDiff(routed, both) < TOL, 'routed vs both branches');
  });
  ref.dispose();
  dev.dispose();
});

test(`bfloat16 training steps on ${DEVICE}: 0/1 decisions, float32 state, the loss close to float32's`, () => {
  const m = model(3);
  m.module.to(DEVICE);
  const opt = new SGD(m.paramGroups().flatMap((g) => g.params), { lr: 0.01, momentum: 0.9 });
  torch.tidy(() => {
    const x = torch.randn([8, 3, 32, 32], { device: DEVICE }), y = torch.randint(0, 5, [8], { device: DEVICE });
    m.setTraining(false);
    torch.manualSeed(4);
    const full = torch.noGrad(() => torch.crossEntropy(m.forwardTrain(x).logits, y).item());
    torch.manualSeed(4);
    const half = torch.noGrad(() => torch.autocast(() => torch.crossEntropy(m.forwardTrain(x).logits, y), { device: DEVICE, dtype: 'bfloat16' }).item());
    assert.ok(Math.abs(half - full) < 0.05 * Math.abs(full), `bf16 loss ${half} vs fp32 ${full}`);
    m.setTraining(true);
    for (let i = 0; i < 2; i++) {
      const out = torch.autocast(() => m.forwardTrain(x), { device: DEVICE, dtype: 'bfloat16' });
      assert.ok(out.decisions.toArray().every((d) => d === 0 || d === 1));
      opt.zeroGrad();
      torch.crossEntropy(out.logits.float(), y).backward();
      opt.step();
    }
    assert.ok([...m.module.parameters(), ...m.module.buffers().filter((b) => b.dtype !== 'int64')].every((t) => t.dtype === 'float32' && t.device === DEVICE));
  });
  m.dispose();
});

test(`float16 steps with loss scaling on ${DEVICE}`, { skip: onGpu ? false : 'float16 autocast needs CUDA (libtorch 1.13\'s CPU autocast is bfloat16 only)' }, () => {
  const m = model(5);
  m.module.to(DEVICE);
  const opt = new SGD(m.paramGroups().flatMap((g) => g.params), { lr: 0.01, momentum: 0.9 });
  const scaler = new GradScaler({ initScale: 2 ** 16 });
  torch.tidy(() => {
    const x = torch.randn([8, 3, 32, 32], { device: DEVICE }), y = torch.randint(0, 5, [8], { device: DEVICE });
    m.setTraining(true);
    for (let i = 0; i < 3; i++) {
      const loss = torch.autocast(() => torch.crossEntropy(m.forwardTrain(x).logits, y), { device: DEVICE, dtype: 'float16' });
      opt.zeroGrad();
      scaler.scale(loss).backward();
      scaler.step(opt);
      scaler.update();
    }
    assert.ok(scaler.getScale() <= 2 ** 16 && scaler.getScale() >= 2 ** 10);
    assert.ok(m.module.parameters().every((p) => p.dtype === 'float32' && torch.all(torch.isfinite(p)).item() === 1));
  });
  m.dispose();
});

test(`weights trained on ${DEVICE} are saved device-independently and open on the CPU`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-device-'));
  try {
    const m = model(6);
    m.module.to(DEVICE);
    const file = join(dir, 'w.safetensors');
    torch.tidy(() => writeWeights(file, m.module.stateDict()));
    const back = readWeights(file);
    const cpu = model(7);
    torch.tidy(() => cpu.module.loadStateDict(back));
    torch.tidy(() => {
      for (const [k, v] of m.module.stateDict()) assert.equal(relDiff(cpu.module.stateDict().get(k)!, v), 0, k);
    });
    assert.ok(cpu.module.parameters().every((p) => p.device === 'cpu'));
    // and back onto the device
    cpu.module.to(DEVICE);
    torch.tidy(() => {
      for (const [k, v] of m.module.stateDict()) assert.equal(relDiff(cpu.module.stateDict().get(k)!, v), 0, k);
    });
    torch.dispose(back);
    m.dispose();
    cpu.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
