// SpotTune benchmark (issue 8): training steps, routed against two-branch evaluation, peak
// RSS, data pipeline against the training step, and `spottune --help` start-up, each against
// Debian's PyTorch running the same model written in Python (bench/spottune_peer.py); the
// two sides time in turns, each in fresh processes (see alternating in harness.ts).
// Run: npm run bench -- spottune   (children: bench/spottune.ts rss REPS | time KEY REPS)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as torch from '../src/torch/index.js';
import { GradScaler, SGD } from '../src/optim/index.js';
import { Agent, resnet26, resnet50, type Backbone } from '../src/models/index.js';
import { SpotTuneModel, TwoBranchNet } from '../src/spottune/index.js';
import { DataLoader, ImageFolder } from '../src/data/index.js';
import { compose, randomCrop, randomHorizontalFlip, IMAGENET_MEAN, IMAGENET_STD } from '../src/data/transforms.js';
import { alternating, childJson, median, timed, type Row } from './harness.js';

function spotTune(make: () => Backbone, agentInputSize?: number): SpotTuneModel {
  const net = new TwoBranchNet(make(), make());
  const agent = new Agent({ numBlocks: net.numBlocks, inputSize: agentInputSize });
  return new SpotTuneModel(net, { kind: 'agent', agent }, { tau: 5, evalRouting: 'argmax' });
}

// The timed children's device and precision (`--device cuda --precision bf16`): fp32, or the
// forward pass under autocast to bf16/fp16 (fp16 with loss scaling).
const arg = (name: string, def: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : def);
const precision = arg('--precision', 'fp32');
if (!['fp32', 'bf16', 'fp16'].includes(precision)) throw new Error(`--precision: expected fp32, bf16 or fp16, got ${precision}`);
const device = process.argv[2] === 'time' ? torch.checkDevice(arg('--device', 'cpu'), '--device') : 'cpu';
const forward = <T>(fn: () => T): T => (precision === 'fp32' ? fn() : torch.autocast(fn, { device, dtype: precision === 'bf16' ? 'bfloat16' : 'float16' }));
const scaler = new GradScaler({ enabled: precision === 'fp16' });

function trainStep(model: SpotTuneModel, images: torch.Tensor, labels: torch.Tensor): () => void {
  const [netGroup, agentGroup] = model.paramGroups();
  const opt = new SGD(netGroup.params, { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const optAgent = new SGD(agentGroup.params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-3 });
  model.setTraining(true);
  return () => torch.tidy(() => {
    const loss = forward(() => torch.crossEntropy(model.forwardTrain(images).logits, labels));
    opt.zeroGrad();
    optAgent.zeroGrad();
    scaler.scale(loss).backward();
    scaler.step(opt);
    scaler.step(optAgent);
    if (scaler.enabled) scaler.update();
    // On a GPU the step only queues work: wait for it (a scalar read waits for the stream).
    if (device !== 'cpu') loss.item();
  });
}

/** Child-process mode: run ResNet-26 training steps, print peak RSS. */
function rssChild(reps: number): void {
  const step = benchmark('step26');
  for (let i = 0; i < reps; i++) step();
  // VmHWM, not ru_maxrss: after fork + exec, ru_maxrss starts from the parent's peak.
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  console.log(JSON.stringify({ peak_rss_mib: hwm / 1024 }));
}

async function dataImagesPerSec(): Promise<number> {
  // The ResNet-26 configuration of the reference code: 72×72 JPEGs, random 64×64 crops, flips.
  const dir = mkdtempSync(join(tmpdir(), 'spottune-bench-data-'));
  try {
    for (let c = 0; c < 4; c++) {
      await import('node:fs').then((fs) => fs.mkdirSync(join(dir, `c${c}`)));
      for (let i = 0; i < 128; i++) {
        await sharp({ create: { width: 72, height: 72, channels: 3, background: { r: (c * 60) % 255, g: i % 255, b: 100 } } })
          .jpeg().toFile(join(dir, `c${c}`, `${i}.jpg`));
      }
    }
    const loader = new DataLoader(new ImageFolder(dir), compose({ mean: IMAGENET_MEAN, std: IMAGENET_STD, steps: [randomCrop(64), randomHorizontalFlip()] }), { batchSize: 64, shuffle: true });
    let n = 0;
    const t = performance.now();
    for (let epoch = 0; epoch < 2; epoch++) for await (const b of loader.epoch(epoch)) n += b.y.length;
    return (n * 1000) / (performance.now() - t);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const NAMES = {
  step26: 'SpotTune ResNet-26 training step (batch 64, 3x64x64)',
  both26: 'SpotTune ResNet-26 evaluation, both branches (batch 64)',
  step50: 'SpotTune ResNet-50 training step (batch 16, 3x112x112)',
  step50_224: 'SpotTune ResNet-50 training step (batch 64, 3x224x224)',
} as const;

/** One repetition of a benchmark (a key of NAMES, or routed26), its model built and seeded. */
function benchmark(key: string): () => void {
  torch.manualSeed(0);
  if (key === 'step50' || key === 'step50_224') {
    const [batch, size] = key === 'step50' ? [16, 112] : [64, 224];
    const m = spotTune(() => resnet50({ numClasses: 10 }), 64);
    m.module.to(device);
    return trainStep(m, torch.randn([batch, 3, size, size], { device }), torch.randint(0, 10, [batch], { device }));
  }
  const m = spotTune(() => resnet26({ numClasses: 10 }));
  m.module.to(device);
  const images = torch.randn([64, 3, 64, 64], { device });
  if (key === 'step26') return trainStep(m, images, torch.randint(0, 10, [64], { device }));
  m.setTraining(false);
  const decisions = torch.bernoulli(torch.full([64, 12], 0.5, { device }), 0.5);
  return key === 'routed26'
    ? () => torch.tidy(() => { m.module.routedForward(images, decisions); })
    : () => torch.tidy(() => { torch.noGrad(() => m.module.forward(images, decisions)); });
}

/** Child-process mode: times one benchmark, prints {"ms": [...]}. */
function timeChild(key: string, reps: number): void {
  console.log(JSON.stringify({ ms: timed(reps, benchmark(key), 2) }));
}

export async function spottuneBench(threads: number, reps: number): Promise<Row[]> {
  // Each side times in fresh processes, in turns (see alternating); 2 turns of reps/2 each.
  const rounds = 2;
  const per = String(Math.max(1, Math.ceil(reps / rounds)));
  const env = { ...process.env, SPOTTUNE_THREADS: String(threads) };
  const ours = (key: string) => () => childJson<{ ms: number[] }>(process.execPath, ['--import', 'tsx', 'bench/spottune.ts', 'time', key, per], env).ms;
  const theirs = (key: keyof typeof NAMES) => () => childJson<{ ms: number[] }>('/usr/bin/python3', ['bench/spottune_peer.py', String(threads), 'time', NAMES[key], per]).ms;
  const rows: Row[] = [];
  const targets: Partial<Record<keyof typeof NAMES, number>> = { step26: 0.75, step50: 0.8 };
  for (const key of ['step26', 'both26', 'step50'] as const) {
    const t = alternating(rounds, ours(key), theirs(key));
    rows.push({ name: NAMES[key], oursMs: median(t.ours), torchMs: median(t.torch), target: targets[key] });
  }
  const routed = alternating(rounds, ours('routed26'), ours('both26'));

  // Routed inference against the two-branch evaluation (ours, then PyTorch's): the target is a speed-up.
  rows.push({ name: 'routed evaluation vs both branches (ours), half the decisions each way', oursMs: median(routed.ours), torchMs: median(routed.torch), target: 1 / 1.5 });
  rows.push({ name: 'routed evaluation (ours) vs both branches (PyTorch)', oursMs: median(routed.ours), torchMs: rows[1].torchMs });

  // Peak RSS, each side in a fresh process doing the same ResNet-26 training steps.
  const rssOf = (cmd: string, args: string[]) => childJson<{ peak_rss_mib: number }>(cmd, args, env).peak_rss_mib;
  const rssReps = Math.min(reps, 5);
  rows.push({ name: 'peak RSS of ResNet-26 SpotTune training (MiB, not ms)', oursMs: rssOf(process.execPath, ['--import', 'tsx', 'bench/spottune.ts', 'rss', String(rssReps)]), torchMs: rssOf('/usr/bin/python3', ['bench/spottune_peer.py', String(threads), String(rssReps), 'rss']), target: 1 });

  // Data pipeline against what the training step consumes (images/s; ratio = consumed / produced).
  const produced = await dataImagesPerSec();
  const consumed = (64 * 1000) / rows[0].oursMs;
  rows.push({ name: `training consumes ${consumed.toFixed(0)} img/s, loader produces ${produced.toFixed(0)} img/s (ratio: consumed/produced)`, oursMs: consumed, torchMs: produced, target: 0.5 });

  // `spottune --help` start-up (no libtorch load), ms; PyTorch column: `python3 -c "import torch"`.
  const helpMs = timed(5, () => { spawnSync(process.execPath, ['dist/cli/main.js', '--help']); }, 1);
  const importMs = timed(5, () => { spawnSync('/usr/bin/python3', ['-c', 'import torch']); }, 1);
  rows.push({ name: '`spottune --help` (ms; vs python3 -c "import torch")', oursMs: median(helpMs), torchMs: median(importMs) });
  if (median(helpMs) > 300) throw new Error(`spottune --help took ${median(helpMs).toFixed(0)} ms, target < 300 ms`);
  return rows;
}

if (process.argv[2] === 'rss') rssChild(Number(process.argv[3] ?? 5));
if (process.argv[2] === 'time') timeChild(process.argv[3], Number(process.argv[4] ?? 5));
