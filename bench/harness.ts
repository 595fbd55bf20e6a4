// Shared benchmark plumbing: timing, the PyTorch peer process, and the table.
import { spawnSync } from 'node:child_process';

export interface Row {
  name: string;
  oursMs: number;
  torchMs: number;
  /** Largest acceptable ours/torch ratio, if this row has a target. */
  target?: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// SPOTTUNE_BENCH_CLOCK=cpu times this process's CPU time (user + system) instead of wall time:
// on a shared, loaded machine that is the fair measure of single-threaded work.
const cpuClock = process.env.SPOTTUNE_BENCH_CLOCK === 'cpu';
const now = (): number => {
  if (!cpuClock) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Milliseconds of each of `reps` runs of fn, after 3 warm-up runs. */
export function timed(reps: number, fn: () => void, warmup = 3): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    fn();
    out.push(now() - t);
  }
  return out;
}

/** Runs the PyTorch peer script (same threads and reps) and pairs its medians with ours. */
export function comparePeer(script: string, threads: number, reps: number, ours: Record<string, number[]>, targets: Record<string, number> = {}): Row[] {
  const r = spawnSync('/usr/bin/python3', [script, String(threads), String(reps)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed (needs: apt-get install python3-torch python3-torchvision):\n${r.stderr}`);
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number[]>;
  return Object.entries(ours).map(([name, ms]) => {
    if (!theirs[name]) throw new Error(`${script} has no result named "${name}"`);
    return { name, oursMs: median(ms), torchMs: median(theirs[name]), target: targets[name] };
  });
}

export function formatTable(rows: Row[]): string {
  const lines = ['| benchmark | spottune (ms) | PyTorch (ms) | ratio | target | |', '| --- | ---: | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    const ratio = r.oursMs / r.torchMs;
    const verdict = r.target === undefined ? '' : ratio <= r.target ? 'pass' : 'FAIL';
    lines.push(`| ${r.name} | ${r.oursMs.toFixed(3)} | ${r.torchMs.toFixed(3)} | ${ratio.toFixed(2)}× | ${r.target === undefined ? '' : `≤ ${r.target}×`} | ${verdict} |`);
  }
  return lines.join('\n');
}

/** Runs a benchmark child process and returns the JSON object it prints as its last line. */
export function childJson<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): T {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed${cmd.includes('python') ? ' (needs: apt-get install python3-torch python3-torchvision)' : ''}:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/**
 * Ours and PyTorch's in turns, `rounds` turns each, each turn a fresh process (so neither
 * side's memory is held while the other runs), repetitions pooled. On a shared machine whose
 * speed drifts over minutes, both sides see the same drift.
 */
export function alternating(rounds: number, ours: () => number[], theirs: () => number[]): { ours: number[]; torch: number[] } {
  const out = { ours: [] as number[], torch: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    out.ours.push(...ours());
    out.torch.push(...theirs());
  }
  return out;
}
