// `npm run bench [-- section...]`: every benchmark section, each against PyTorch in
// the same run. SPOTTUNE_BENCH_THREADS (default: all cores) and SPOTTUNE_BENCH_REPS.
import { availableParallelism, cpus } from 'node:os';
import { formatTable, type Row } from './harness.js';
import { tensorBench } from './tensor.js';
import { spottuneBench } from './spottune.js';
import { precisionBench } from './precision.js';

const sections: Record<string, (threads: number, reps: number) => Row[] | Promise<Row[]>> = { tensor: tensorBench, spottune: spottuneBench, precision: precisionBench };
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(sections);
const threads = Number(process.env.SPOTTUNE_BENCH_THREADS ?? availableParallelism());
const reps = Number(process.env.SPOTTUNE_BENCH_REPS ?? 20);
console.log(`machine: ${cpus()[0].model}, ${availableParallelism()} cores; threads ${threads}; median of ${reps} runs`);
for (const name of wanted) {
  const run = sections[name];
  if (!run) throw new Error(`unknown bench section "${name}"; known: ${Object.keys(sections).join(', ')}`);
  console.log(`\n## ${name}\n`);
  console.log(formatTable(await run(threads, reps)));
}
