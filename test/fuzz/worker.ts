// The fuzzer's child process: makes inputs from their seeds, writes each into a folder, runs
// the target's parser on it and reports what happened. The parent (run.ts) watches it: a crash,
// a hang or runaway memory kills only this process, and `current` says which input did it.
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Rng, mixSeed } from '../../src/util/rng.js';
import { makeTargets, type Input } from './targets.js';

export interface Job {
  target: string;
  from: number;
  to: number;
  seed: number;
  /** Work folder of this target: inputs are written under it. */
  dir: string;
  /** RSS (bytes) above which an input counts as a memory violation. */
  rssLimit: number;
  /** Where the input files of violations are copied. */
  failDir: string;
}

export interface Result {
  i: number;
  outcome: 'accepted' | 'rejected' | 'violation';
  /** For violations: what was wrong. */
  kind?: string;
  message?: string;
  /** Copy of the input of a violation. */
  saved?: string;
  ms: number;
}

const targets = makeTargets();

async function run(job: Job): Promise<void> {
  const index = targets.findIndex((t) => t.name === job.target);
  if (index < 0) throw new Error(`no fuzz target '${job.target}' (targets: ${targets.map((t) => t.name).join(', ')})`);
  const target = targets[index];
  const input = join(job.dir, 'input');
  const canary = join(job.dir, 'CODE-WAS-RUN');
  for (let i = job.from; i < job.to; i++) {
    writeFileSync(join(job.dir, 'current'), String(i));
    let x: Input;
    try {
      x = target.generate(new Rng(mixSeed(job.seed, index, i)), canary);
    } catch (e) {
      // A bug of the fuzzer itself, not of a parser: stop the run.
      throw new Error(`fuzz target ${job.target} could not make input ${i}: ${(e as Error).stack}`);
    }
    rmSync(input, { recursive: true, force: true });
    for (const [name, bytes] of x.files) {
      if (bytes === null) continue;
      mkdirSync(dirname(join(input, name)), { recursive: true });
      writeFileSync(join(input, name), bytes);
    }
    const subject = join(input, x.subject);
    const t0 = performance.now();
    const r: Result = { i, outcome: 'accepted', ms: 0 };
    const violation = (kind: string, message: string) => Object.assign(r, { outcome: 'violation', kind, message });
    try {
      await target.parse(input, x);
      if (x.hostile) violation('hostile accepted', `a pickle calling ${x.hostile.global} was accepted`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof Error)) violation('not an Error', message);
      else if (message.startsWith('INVARIANT')) violation('wrong result', message);
      else if (!message.includes(subject.replace(/\/\.$/, ''))) violation('error does not name the file', `${e.name}: ${message}`);
      else if (x.hostile && !x.hostile.expect.test(message)) violation('hostile global not refused by name', message);
      else r.outcome = 'rejected';
    }
    r.ms = performance.now() - t0;
    if (existsSync(canary)) {
      rmSync(canary);
      violation('code ran', 'the canary file a hostile pickle would create exists');
    }
    const rss = process.memoryUsage.rss();
    if (rss > job.rssLimit) violation('memory', `RSS ${(rss / 2 ** 20).toFixed(0)} MiB after this input`);
    if (r.outcome === 'violation') {
      r.saved = join(job.failDir, `${job.target}-${i}`);
      rmSync(r.saved, { recursive: true, force: true });
      cpSync(input, r.saved, { recursive: true });
    }
    process.send!(r);
  }
}

process.send!({ ready: true });
process.on('message', (job: Job) => {
  run(job).then(
    () => process.send!({ done: true }, () => process.exit(0)),
    (e: unknown) => process.send!({ harness: (e as Error).message }, () => process.exit(70)),
  );
});
