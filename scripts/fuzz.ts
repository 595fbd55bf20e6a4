// Fuzzes every file parser with mutations of valid files (see scripts/fuzz/): zero crashes, zero
// hangs, bounded memory, and every rejection an Error naming the file.
//   node --import tsx scripts/fuzz.ts [--n 10000] [--seed 1] [--target pth,mat] [--from i]
// Exits non-zero if any input failed; the inputs behind failures are kept in --fail-dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TARGETS, runFuzz } from '../test/fuzz/run.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    from: { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    target: { type: 'string', default: TARGETS.join(',') },
    'timeout-ms': { type: 'string', default: '10000' },
    'heap-mb': { type: 'string', default: '512' },
    'rss-mb': { type: 'string', default: '1024' },
    'fail-dir': { type: 'string', default: 'fuzz-failures' },
  },
});

const targets = values.target.split(',');
for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target '${t}'; targets: ${TARGETS.join(', ')}`);
const workDir = mkdtempSync(join(tmpdir(), 'spottune-fuzz-'));
const n = Number(values.n);
console.log(`fuzzing ${targets.length} parsers, ${n} inputs each (seed ${values.seed}); per input: ${values['timeout-ms']} ms, heap ${values['heap-mb']} MiB, RSS ${values['rss-mb']} MiB`);
const reports = await runFuzz({
  targets, n, from: Number(values.from), seed: Number(values.seed), workDir, failDir: values['fail-dir'],
  timeoutMs: Number(values['timeout-ms']), heapMb: Number(values['heap-mb']), rssMb: Number(values['rss-mb']),
  onResult: (target, r) => {
    if (r.outcome === 'violation') console.log(`  ${target} #${r.i}: ${r.kind}: ${r.message?.slice(0, 300)}`);
  },
});
rmSync(workDir, { recursive: true, force: true });

console.log('\n| parser | inputs | accepted | rejected | crashes | hangs | memory | other failures | slowest input (ms) | seconds |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
let failed = 0;
for (const r of reports) {
  const count = (kind: string) => r.failures.filter((f) => f.kind === kind).length;
  const other = r.failures.length - count('crash') - count('hang') - count('memory');
  failed += r.failures.length;
  console.log(`| ${r.target} | ${r.inputs} | ${r.accepted} | ${r.rejected} | ${count('crash')} | ${count('hang')} | ${count('memory')} | ${other} | ${r.maxMs.toFixed(1)} | ${r.seconds.toFixed(0)} |`);
  for (const f of r.failures.slice(0, 10)) console.log(`    #${f.i} ${f.kind}: ${f.message.slice(0, 300)}${f.saved ? ` (input: ${f.saved})` : ''}`);
}
console.log(failed === 0 ? '\nno failures' : `\n${failed} failing inputs (kept in ${values['fail-dir']})`);
process.exit(failed === 0 ? 0 : 1);
