// The long version of test/reliability/interrupt.test.ts: a SpotTune run killed with SIGKILL at
// five random moments (one during a checkpoint write), resumed after each, compared bit for bit
// with an uninterrupted run.   node --import tsx scripts/interrupt.ts [--kills 5] [--epochs 6] [--seed 1]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sourceWeights } from '../test/reliability/cli.js';
import { differences, halfWritten, interruptedRun, timedRun } from '../test/reliability/kill_resume.js';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '5' }, epochs: { type: 'string', default: '6' }, seed: { type: 'string', default: '1' } } });
const kills = Number(values.kills);
const epochs = Number(values.epochs);
const dir = mkdtempSync(join(tmpdir(), 'spottune-interrupt-'));
const weights = sourceWeights(dir);
const args = (out: string) => ['train', '--method', 'spottune', '--data', 'digits', '--per-class', '20', '--width', '0.25', '--weights', weights,
  '--epochs', String(epochs), '--eval-every', '2', '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '1', '--quiet', '--output', out];

const a = join(dir, 'uninterrupted');
const timing = timedRun(args(a), epochs);
console.log(`uninterrupted run: ${epochs} epochs in ${(timing.totalMs / 1000).toFixed(1)} s`);
const b = join(dir, 'interrupted');
const problems: string[] = [];
const done = await interruptedRun(args(b), b, kills, timing, Number(values.seed), (k) => {
  console.log(`kill (${k.moment.kind}${k.moment.kind === 'random' ? `, planned at ${k.moment.afterMs} ms` : ''}): ${k.killed ? `at ${k.atMs.toFixed(0)} ms` : 'the process had ended'}, ${k.epochsDone}/${epochs} epochs done, temporary files [${k.tempFiles.join(', ')}]`);
  problems.push(...halfWritten(b).map((f) => `half-written after a kill: ${f}`));
});
if (!done.some((k) => k.killed && k.tempFiles.some((f) => /\.pth\.tmp-\d+$/.test(f)))) problems.push('no kill landed inside a checkpoint write');
problems.push(...halfWritten(b), ...differences(a, b));
console.log(problems.length === 0 ? `resumed ${done.filter((k) => k.killed).length} times: final weights (last.pth, best.pth), metrics and result identical to the uninterrupted run` : problems.join('\n'));
rmSync(dir, { recursive: true, force: true });
process.exit(problems.length === 0 ? 0 : 1);
