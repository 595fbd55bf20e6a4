// A training run killed with SIGKILL several times, once during a checkpoint write, and resumed
// after each kill ends with the same weights, bit for bit, as an uninterrupted run with the same
// seed; no file is ever left half-written, and the temporary files of a killed write are removed
// by the next start. (Five kills: node --import tsx scripts/interrupt.ts)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { differences, halfWritten, interruptedRun, timedRun } from './kill_resume.js';
import { sourceWeights, tempDir, tempFiles } from './helpers.js';

const KILLS = Number(process.env.SPOTTUNE_KILLS ?? 3);
const EPOCHS = 4;
const dir = tempDir('interrupt');
const weights = sourceWeights(dir);
const args = (out: string) => ['train', '--method', 'spottune', '--data', 'digits', '--per-class', '5', '--width', '0.25', '--weights', weights,
  '--epochs', String(EPOCHS), '--eval-every', '2', '--batch-size', '16', '--lr', '0.05', '--seed', '3', '--threads', '1', '--quiet', '--output', out];

test(`${KILLS} SIGKILLs (one during a checkpoint write), each resumed: bit-identical to an uninterrupted run`, { timeout: 20 * 60_000 }, async (t) => {
  const a = join(dir, 'uninterrupted');
  const timing = timedRun(args(a), EPOCHS);
  const b = join(dir, 'interrupted');
  const kills = await interruptedRun(args(b), b, KILLS, timing, 11, (k) => {
    assert.deepEqual(halfWritten(b), [], `no file is half-written after a kill ${k.moment.kind} at ${k.atMs.toFixed(0)} ms`);
  });
  const report = kills.map((k) => `${k.moment.kind} at ${k.atMs.toFixed(0)} ms: killed ${k.killed}, ${k.epochsDone} epochs done, temp files [${k.tempFiles}]`).join('\n');
  t.diagnostic(`uninterrupted: ${(timing.totalMs / 1000).toFixed(1)} s; kills:\n${report}`);
  const midWrite = kills.find((k) => k.moment.kind === 'checkpoint-write')!;
  assert.ok(midWrite.killed && midWrite.tempFiles.some((f) => /\.pth\.tmp-\d+$/.test(f)), `a kill landed inside a checkpoint write:\n${report}`);
  assert.equal(kills.filter((k) => k.killed).length, KILLS, `every kill landed before the run ended:\n${report}`);
  assert.deepEqual(halfWritten(b), []);
  assert.deepEqual(tempFiles(b), [], "the next start removed the killed write's temporary file");
  assert.deepEqual(differences(a, b), [], report);
});
