// Mixed precision on the CPU: our SpotTune ResNet-26 training step (batch 64, 3×64×64) in
// float32 and under bfloat16 autocast, against PyTorch's best CPU configuration (channels-last,
// torch.autocast('cpu', torch.bfloat16)) in the same run. The three time in turns, each turn a
// fresh process (see alternating in harness.ts); the load average is printed with the table,
// since the machine may be shared.
// Run: npm run bench -- precision   (children: bench/spottune.ts time step26 REPS --precision bf16)
import { loadavg } from 'node:os';
import { childJson, median, type Row } from './harness.js';

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
  ];
}
