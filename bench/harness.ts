// Shared benchmark plumbing: timing, the PyTorch peer process, and the table.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

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

/** Milliseconds of each of `reps` runs of fn, after 3 warm-up runs. */
export function timed(reps: number, fn: () => void, warmup = 3): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
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

/**
 * A PyTorch peer that times one repetition per request (its script's `serve` mode), so our
 * repetitions and PyTorch's alternate: on a shared machine whose speed drifts over minutes,
 * both sides then see the same drift, and the ratio of medians stays meaningful.
 */
export class InterleavedPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private stderr = '';

  constructor(script: string, args: string[]) {
    this.child = spawn('/usr/bin/python3', [script, ...args]);
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  private async next(): Promise<unknown> {
    const r = await this.lines.next();
    if (r.done) throw new Error(`PyTorch peer exited (needs: apt-get install python3-torch python3-torchvision):\n${this.stderr}`);
    return JSON.parse(r.value);
  }

  /** Waits for the peer to build its models and warm up. */
  async ready(): Promise<void> {
    await this.next();
  }

  /** Milliseconds of one repetition of the named benchmark on the PyTorch side. */
  async time(name: string): Promise<number> {
    this.child.stdin.write(name + '\n');
    const r = (await this.next()) as { ms?: number; error?: string };
    if (r.ms === undefined) throw new Error(`PyTorch peer: ${r.error ?? 'no time'} for "${name}"`);
    return r.ms;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** reps alternating repetitions of ours and of the peer's benchmark of the same name, after warm-up. */
export async function timedAgainst(peer: InterleavedPeer, name: string, reps: number, fn: () => void, warmup = 2): Promise<{ ours: number[]; torch: number[] }> {
  for (let i = 0; i < warmup; i++) fn();
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    ours.push(performance.now() - t);
    theirs.push(await peer.time(name));
  }
  return { ours, torch: theirs };
}
