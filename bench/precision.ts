// Mixed precision on the CPU: our SpotTune ResNet-26 training step (batch 64, 3×64×64) in
// float32 and under bfloat16 autocast, against PyTorch's best CPU configuration (channels-last,
// torch.autocast('cpu', torch.bfloat16)) in the same run. The three time in turns, each turn a
// fresh process (see alternating in harness.ts); the load average is printed with the table,
// since the machine may be shared. Then ResNet-26's 3×3 convolutions alone (batch 64, forward
// and backward): the Winograd kernel in bfloat16 against libtorch's bfloat16 convolution
// (oneDNN, channels-last) and against the kernel in float32.
// Run: npm run bench -- precision   (children: bench/spottune.ts time step26 REPS --precision bf16;
//   bench/precision.ts conv REPS)
import { loadavg } from 'node:os';
import * as torch from '../src/torch/index.js';
import { childJson, median, timed, type Row } from './harness.js';

const STEP = 'SpotTune ResNet-26 training step (batch 64, 3x64x64)';

export function precisionBench(threads: number, reps: number): Row[] {
  const rounds = Math.min(3, reps);
  const per = String(Math.max(1, Math.ceil(reps / rounds)));
  const env = { ...process.env, SPOTTUNE_THREADS: String(threads) };
  const ours = (precision: string) => childJson<{ ms: number[] }>(process.execPath, ['--import', 'tsx', 'bench/spottune.ts', 'time', 'step26', per, '--precision', precision], env).ms;
  const theirs = () => childJson<{ ms: number[] }>('/usr/bin/python3', ['bench/spottune_peer.py', String(threads), 'time', STEP, per, '--precision', 'bf16']).ms;
  const t = { fp32: [] as number[], bf16: [] as number[], torch: [] as number[] };
  const load: number[] = [];
  for (let i = 0; i < rounds; i++) {
    load.push(loadavg()[0]);
    t.fp32.push(...ours('fp32'));
    t.bf16.push(...ours('bf16'));
    t.torch.push(...theirs());
  }
  const m = { fp32: median(t.fp32), bf16: median(t.bf16), torch: median(t.torch) };
  console.log(`load average (1 min) at each round: ${load.map((l) => l.toFixed(1)).join(', ')}; ms: ${JSON.stringify(t)}`);
  return [
    { name: `${STEP}, bf16 autocast vs PyTorch bf16 autocast + channels-last`, oursMs: m.bf16, torchMs: m.torch, target: 0.75 },
    // "PyTorch" column here: our own float32 step; the target is a 1.6× speed-up.
    { name: 'bf16 autocast vs our float32 step (both ours)', oursMs: m.bf16, torchMs: m.fp32, target: 1 / 1.6 },
    ...convRows(childJson<ConvTimes>(process.execPath, ['--import', 'tsx', 'bench/precision.ts', 'conv', String(reps)], env)),
  ];
}

// ResNet-26's stride-1 3×3 convolutions at batch 64: channels and side.
const CONVS = [[64, 32], [128, 16], [256, 8]] as const;
type ConvTimes = Record<string, { fp32: number; bf16: number; oneDnn: number }>;

function convRows(t: ConvTimes): Row[] {
  return Object.entries(t).flatMap(([shape, m]) => [
    // "PyTorch" column: libtorch's own bfloat16 convolution (oneDNN), then our float32 kernel.
    { name: `3x3 conv ${shape}, forward + backward: Winograd bf16 vs oneDNN bf16 channels-last`, oursMs: m.bf16, torchMs: m.oneDnn },
    { name: `3x3 conv ${shape}, forward + backward: Winograd bf16 vs Winograd fp32`, oursMs: m.bf16, torchMs: m.fp32 },
  ]);
}

/** Child mode: median ms of forward + backward (input and weight gradients) of each convolution. */
function convChild(reps: number): void {
  const out: ConvTimes = {};
  for (const [c, side] of CONVS) {
    torch.manualSeed(0);
    const x = torch.keep(torch.randn([64, c, side, side]).contiguous(torch.memoryFormat.channelsLast));
    const w = torch.keep(torch.randn([c, c, 3, 3]).mul(Math.sqrt(2 / (9 * c))).requiresGrad_(true));
    const g = torch.keep(torch.randn([64, c, side, side]).contiguous(torch.memoryFormat.channelsLast));
    const time = (precision: 'fp32' | 'bf16', winograd: boolean) => {
      torch.useWinograd(winograd);
      const xr = torch.keep((precision === 'bf16' ? x.to('bfloat16') : x.clone()).requiresGrad_(true));
      const gr = precision === 'bf16' ? g.to('bfloat16') : g;
      const step = () => torch.tidy(() => {
        const y = precision === 'bf16' ? torch.autocast(() => torch.conv2d(xr, w, undefined, 1, 1), { device: 'cpu', dtype: 'bfloat16' }) : torch.conv2d(xr, w, undefined, 1, 1);
        y.backward(gr);
      });
      return median(timed(reps, step, 2));
    };
    out[`${c}ch ${side}x${side}`] = { fp32: time('fp32', true), bf16: time('bf16', true), oneDnn: time('bf16', false) };
  }
  console.log(JSON.stringify(out));
}

if (process.argv[2] === 'conv') convChild(Number(process.argv[3] ?? 5));
