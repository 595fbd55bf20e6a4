// A trained run opened, evaluated, asked to predict and exported on a device (SPOTTUNE_TEST_DEVICE,
// default cpu; cuda in scripts/gpu/check.sh), whichever device it trained on: trained there and
// opened on the CPU, and the other way round. Evaluation, prediction and the ONNX check run
// under torch.requireDevices (a tensor made without naming its device fails the test: in a GPU
// run it would land on the CPU). Every command that takes --device refuses a CUDA device on a
// libtorch without CUDA, before it reads or writes anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../../src/torch/index.js';
import { resnet26 } from '../../src/models/index.js';
import { writeWeights } from '../../src/io/tensors.js';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { evaluateRun, loadRun, predict, type LoadedRun } from '../../src/train/saved_run.js';
import { DataLoader } from '../../src/data/index.js';
import { exportOnnx } from '../../src/export/model.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../reliability/helpers.js';

const DEVICE = torch.checkDevice(process.env.SPOTTUNE_TEST_DEVICE ?? 'cpu', 'SPOTTUNE_TEST_DEVICE');
const onGpu = DEVICE !== 'cpu';
const dir = tempDir('saved-run-device');

// Three classes of 32×24 colour images: a class's hue plus per-image noise.
const folder = join(dir, 'folder');
const rng = new Rng(4);
for (const [split, n] of [['train', 8], ['val', 6]] as const) {
  for (let c = 0; c < 3; c++) {
    mkdirSync(join(folder, split, `c${c}`), { recursive: true });
    for (let i = 0; i < n; i++) {
      const px = Buffer.from(Array.from({ length: 32 * 24 * 3 }, (_, k) => Math.min(255, (k % 3 === c ? 150 : 40) + Math.floor(rng.float() * 100))));
      await sharp(px, { raw: { width: 32, height: 24, channels: 3 } }).png().toFile(join(folder, split, `c${c}`, `${i}.png`));
    }
  }
}
const weights = join(dir, 'source.safetensors');
torch.tidy(() => {
  torch.manualSeed(6);
  writeWeights(weights, resnet26({ numClasses: 10, width: 0.25 }).stateDict());
});
const run = join(dir, 'run');
const result = await train(makeConfig({
  method: 'spottune', arch: 'resnet26', width: 0.25, agentWidth: 0.25, weights, data: `imagefolder:${folder}`, imageSize: 32,
  epochs: 2, batchSize: 8, lr: 0.05, seed: 2, device: DEVICE,
}), run);
const images = readdirSync(join(folder, 'val', 'c1')).map((f) => join(folder, 'val', 'c1', f));

function onDevice(r: LoadedRun, device: string): void {
  for (const t of [...r.model.module.parameters(), ...r.model.module.buffers()]) assert.equal(t.device, device);
}

test(`a run trained on ${DEVICE} evaluates and predicts the same on the CPU and on ${DEVICE}`, async () => {
  const cpu = loadRun(run, { checkpoint: 'last' });
  const dev = loadRun(run, { checkpoint: 'last', device: DEVICE });
  assert.equal(cpu.device, 'cpu');
  assert.equal(dev.device, DEVICE);
  onDevice(cpu, 'cpu');
  onDevice(dev, DEVICE);
  for (const r of [cpu, dev]) {
    const e = await torch.requireDevices(() => evaluateRun(r));
    // The run's own final evaluation, on its device: on the CPU exactly; cuDNN may round differently.
    if (!onGpu || r === dev) assert.equal(e.acc, result.testAcc);
    else assert.ok(Math.abs(e.acc - result.testAcc) <= 100 / 18, `${e.acc} vs ${result.testAcc}`);
    assert.deepEqual(e.blockFreq.length, r.model.numBlocks);
  }
  const [a, b] = await Promise.all([cpu, dev].map((r) => torch.requireDevices(() => predict(r, images))));
  assert.equal(a.length, images.length);
  for (let i = 0; i < a.length; i++) {
    const [p, q] = [a[i], b[i]];
    assert.ok(!('error' in p) && !('error' in q));
    assert.equal(p.class, q.class);
    assert.deepEqual(p.policy, q.policy);
    assert.ok(Math.abs(p.confidence - q.confidence) < (onGpu ? 1e-2 : 1e-6), `${p.confidence} vs ${q.confidence}`);
  }
  cpu.model.dispose();
  dev.model.dispose();
});

test(`export: the ONNX file of a run loaded on ${DEVICE} is the CPU's, byte for byte`, () => {
  const cpu = loadRun(run);
  const dev = loadRun(run, { device: DEVICE });
  const fromCpu = exportOnnx(cpu.model, { inputShape: [3, 32, 32], routing: cpu.routing });
  const fromDev = exportOnnx(dev.model, { inputShape: [3, 32, 32], routing: dev.routing });
  assert.ok(Buffer.from(fromDev.bytes).equals(Buffer.from(fromCpu.bytes)), 'the exported files differ');
  cpu.model.dispose();
  dev.model.dispose();
});

// ONNX Runtime is not staged on the GPU machine (scripts/gpu/stage.sh): there this part is skipped.
const ort = await import('onnxruntime-node').then(() => true, () => false);
test(`export --verify runs libtorch on ${DEVICE}`, { skip: ort ? false : 'onnxruntime-node is not installed' }, async () => {
  const { compareWithLibtorch, openSession } = await import('../../src/export/verify.js');
  const dev = loadRun(run, { device: DEVICE });
  const exported = exportOnnx(dev.model, { inputShape: [3, 32, 32], routing: dev.routing });
  const session = await openSession(exported.bytes);
  try {
    const loader = new DataLoader(dev.task.test, dev.task.evalTransform, { batchSize: 10 });
    const c = await torch.requireDevices(() => compareWithLibtorch(session, dev.model, loader.epoch(0), { routing: exported.routing, device: DEVICE }));
    assert.equal(c.images, 18);
    assert.ok(c.maxAbsDiff < (onGpu ? 1e-2 : 1e-4), `max |Δlogit| ${c.maxAbsDiff}`);
    assert.equal(c.decisionMismatches, 0);
  } finally {
    await session.release();
  }
  dev.model.dispose();
});

test('a run whose config.json names a GPU (as a GPU run writes it) opens and evaluates on the CPU like the run itself', async () => {
  const gpuRun = join(dir, 'gpu-run');
  cpSync(run, gpuRun, { recursive: true });
  const config = JSON.parse(readFileSync(join(gpuRun, 'config.json'), 'utf8'));
  writeFileSync(join(gpuRun, 'config.json'), JSON.stringify({ ...config, device: 'cuda:0' }));
  const r = loadRun(gpuRun, { checkpoint: 'last' });
  onDevice(r, 'cpu');
  const e = await evaluateRun(r);
  const own = await evaluateRun(loadRun(run, { checkpoint: 'last' }));
  assert.equal(e.acc, own.acc);
  assert.deepEqual(e.blockFreq, own.blockFreq);
  r.model.dispose();
});

test('--device cuda on a libtorch without CUDA: eval, predict, export, sweep and demo stop with one error before reading or writing anything', { skip: torch.cudaBuilt() ? 'this addon has CUDA' : false }, () => {
  const demo = join(dir, 'demo');
  mkdirSync(demo);
  writeFileSync(join(demo, 'demo.json'), '{}\n'); // a demo folder: the demo would clear it first
  const onnx = join(dir, 'refused.onnx');
  const sweep = join(dir, 'refused-sweep');
  const commands: string[][] = [
    ['eval', run], ['predict', images[0], '--run', run], ['export', run, '--output', onnx],
    ['sweep', '--methods', 'finetune', '--datasets', `imagefolder:${folder}`, '--weights', weights, '--output', sweep], ['demo', '--output', demo],
  ];
  for (const args of commands) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--device', 'cuda'], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
    assert.equal(r.stdout, '', args[0]);
    assert.match(r.stderr, /^spottune: (finetune\/[^:]+: )?--device cuda: spottune's addon is built against a libtorch without CUDA \(libtorch [\d.]+, CPU only\)\. On a machine with an NVIDIA GPU, .*LIBTORCH=auto npm run build:native \(see docs\/gpu\.md\)\n$/, args[0]);
  }
  assert.equal(existsSync(onnx), false, 'export wrote its file');
  assert.equal(existsSync(sweep), false, 'sweep made its folder');
  assert.deepEqual(readdirSync(demo), ['demo.json'], 'demo touched its folder');
});
