// One rank of the process-group tests (run by process_group.test.ts as a real process):
// node --import tsx pg_worker.ts <scenario> <rank> <worldSize> <port>. Prints one JSON line.
import * as torch from '../../src/torch/index.js';
import { ProcessGroup } from '../../src/torch/distributed.js';

const [scenario, rankArg, worldArg, portArg] = process.argv.slice(2);
const rank = Number(rankArg);
const worldSize = Number(worldArg);
const group = ProcessGroup.init({ rank, worldSize, masterAddr: '127.0.0.1', masterPort: Number(portArg), timeoutMs: scenario === 'silent-peer' ? 2000 : 20_000 });
const out: Record<string, unknown> = { rank };

if (scenario === 'collectives') {
  // Several tensors of different shapes in one call, one of them a non-contiguous view.
  const a = torch.tensor([rank + 1, 10 * (rank + 1)]);
  const base = torch.arange(6).reshape([2, 3]).float().add(rank);
  const b = base.transpose(0, 1);
  group.allReduce([a, b]);
  out.sum = a.toArray();
  out.sumView = base.toArray();
  const m = torch.tensor([rank, -rank]);
  group.allReduce([m], 'max');
  out.max = m.toArray();
  // Broadcast from the last rank, tensors of two dtypes.
  const f = torch.full([3], rank + 0.5);
  const l = torch.tensor([rank * 7]).long();
  group.broadcast([f, l], worldSize - 1);
  out.broadcast = [f.toArray(), l.toArray()];
  group.barrier();
  try {
    group.broadcast([f], worldSize);
  } catch (e) {
    out.badRoot = (e as Error).message;
  }
} else if (scenario === 'silent-peer') {
  // Rank 1 stays alive but never joins the collective: rank 0 must fail after the timeout.
  if (rank === 1) await new Promise((resolve) => setTimeout(resolve, 3500));
  else {
    const t0 = performance.now();
    try {
      group.allReduce([torch.ones([4])]);
    } catch (e) {
      out.error = (e as Error).message;
    }
    out.seconds = (performance.now() - t0) / 1000;
  }
}
group.destroy();
console.log(JSON.stringify(out));
