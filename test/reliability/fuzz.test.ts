// The parser fuzzer's short run (the long one: node --import tsx scripts/fuzz.ts --n 10000):
// mutated files for every parser, each in a watched child process with a heap limit, a per-input
// timeout and an RSS ceiling. No crash, no hang, no memory blow-up, and every rejection an Error
// naming the file; hostile pickle globals are refused by name and never run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TARGETS, runFuzz } from '../fuzz/run.js';

const N = Number(process.env.SPOTTUNE_FUZZ_N ?? 250);

test(`${N} mutated inputs per parser: no crash, hang or unclear rejection`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-fuzz-test-'));
  try {
    const reports = await runFuzz({
      targets: TARGETS, n: N, seed: 7, workDir: join(dir, 'work'), failDir: join(dir, 'failures'),
      timeoutMs: 10_000, heapMb: 512, rssMb: 1024,
    });
    assert.deepEqual(reports.map((r) => r.target), TARGETS);
    for (const r of reports) {
      assert.equal(r.inputs, N, r.target);
      const failures = r.failures.map((f) => `${r.target} #${f.i} ${f.kind}: ${f.message}`);
      assert.deepEqual(failures, [], failures.join('\n'));
      // The mutations must reach the parsers' checks (image lists accept most text: any path, a label).
      assert.ok(r.rejected > N / 10, `${r.target}: only ${r.rejected} of ${N} inputs rejected`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the harness records a crash, a hang, a memory blow-up and an unclear error against the input that caused it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-fuzz-selftest-'));
  process.env.SPOTTUNE_FUZZ_SELFTEST = '1';
  try {
    const reports = await runFuzz({
      targets: ['selftest-crash', 'selftest-hang', 'selftest-memory', 'selftest-unclear'], n: 3, seed: 1,
      // 6 s per input: on a loaded machine writing 1 GiB can take longer than 2 s, and the memory
      // blow-up must reach the RSS ceiling before the hang watchdog fires.
      workDir: join(dir, 'work'), failDir: join(dir, 'failures'), timeoutMs: 6000, heapMb: 256, rssMb: 1024,
    });
    const seen = reports.map((r) => [r.target, r.inputs, r.rejected, r.failures.map((f) => [f.i, f.kind])]);
    assert.deepEqual(seen, [
      ['selftest-crash', 3, 2, [[1, 'crash']]],
      ['selftest-hang', 3, 2, [[1, 'hang']]],
      ['selftest-memory', 3, 2, [[1, 'memory']]],
      ['selftest-unclear', 3, 2, [[1, 'error does not name the file']]],
    ]);
    for (const r of reports) assert.ok(r.failures[0].saved, `${r.target}: the failing input is kept`);
  } finally {
    delete process.env.SPOTTUNE_FUZZ_SELFTEST;
    rmSync(dir, { recursive: true, force: true });
  }
});
