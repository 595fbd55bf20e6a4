// Every public tensor function and Tensor method, called with bad arguments in a child process
// (op_walker.ts), so that a segfault or an abort shows up as a crash naming the call instead of
// taking the test runner down. Longer walk: node --import tsx test/reliability/op_walker.ts --combos 400
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const COMBOS = Number(process.env.SPOTTUNE_OP_COMBOS ?? 60);

test(`every public op and Tensor method, ${COMBOS} bad calls each: JS errors only, no segfault or abort`, { timeout: 15 * 60_000 }, async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'op_walker.ts'), '--combos', String(COMBOS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Only the last lines matter: the call in progress when it died, or the summary.
  let tail = '';
  child.stdout.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-20_000)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  const lines = tail.trim().split('\n');
  const last = lines[lines.length - 1];
  assert.ok(code === 0 && signal === null, `the walker died (${signal ?? `exit code ${code}`}) during: ${last}\n${stderr.slice(-1500)}`);
  assert.ok(last.startsWith('SUMMARY '), `no summary; last line: ${last}`);
  const summary = JSON.parse(last.slice('SUMMARY '.length)) as { functions: number; methods: number; calls: number; threw: number; problems: string[] };
  assert.deepEqual(summary.problems, []);
  assert.ok(summary.functions > 100 && summary.methods > 80, `walked ${summary.functions} functions and ${summary.methods} methods`);
  // Bad arguments must mostly be refused: a walk where nothing throws tests nothing.
  assert.ok(summary.threw > summary.calls / 2, `${summary.threw} of ${summary.calls} calls threw`);
});
