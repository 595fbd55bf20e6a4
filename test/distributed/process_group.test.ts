// The c10d/Gloo process group with real processes on loopback: collectives give the same
// results on every rank, and failures (a rank that never comes, a peer that stops answering)
// end in an Error within the timeout instead of a hang. And the sharding of batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shardOrder } from '../../src/train/distributed.js';
import { ProcessGroup } from '../../src/torch/distributed.js';
import * as torch from '../../src/torch/index.js';
import { freePort, run } from './util.js';

const worker = 'test/distributed/pg_worker.ts';

async function ranks(scenario: string, worldSize: number): Promise<Record<string, unknown>[]> {
  const port = await freePort();
  const exits = await Promise.all(Array.from({ length: worldSize }, (_, r) => run([worker, scenario, String(r), String(worldSize), String(port)], 60_000).done));
  return exits.map((e, r) => {
    assert.equal(e.code, 0, `rank ${r}: ${e.stderr}`);
    return JSON.parse(e.stdout.trim().split('\n').pop()!);
  });
}

test('all-reduce, broadcast and barrier over 3 processes', async () => {
  const out = await ranks('collectives', 3);
  for (const o of out) {
    assert.deepEqual(o.sum, [6, 60]);
    // base = arange(6) + rank, reduced through a transposed (non-contiguous) view.
    assert.deepEqual(o.sumView, [3, 6, 9, 12, 15, 18]);
    assert.deepEqual(o.max, [2, 0]);
    assert.deepEqual(o.broadcast, [[2.5, 2.5, 2.5], [14]]);
    assert.match(String(o.badRoot), /root must be a rank in \[0, 3\), got 3/);
  }
});

test('a peer that stays alive but never joins the collective: an Error after the timeout', async () => {
  const [r0] = await ranks('silent-peer', 2);
  assert.match(String(r0.error), /distributed allReduce \(rank 0 of 2\) failed: .*Timed out/);
  assert.ok((r0.seconds as number) >= 1.9 && (r0.seconds as number) < 10, `failed after ${r0.seconds} s (timeout 2 s)`);
});

test('a rank that never comes: init fails with the settings in the message', async () => {
  const port = await freePort();
  const t0 = performance.now();
  assert.throws(() => ProcessGroup.init({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 1000 }), /distributed init \(rank 0 of 2, master 127\.0\.0\.1:\d+, timeout 1000 ms\) failed: .*did every rank start/);
  assert.ok(performance.now() - t0 < 10_000);
  assert.throws(() => ProcessGroup.init({ rank: 2, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port }), /'rank' must be an integer in \[0, 1\]/);
});

test('a group of one process: collectives are identities', async () => {
  const group = ProcessGroup.init({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() });
  torch.tidy(() => {
    const x = torch.tensor([1, 2, 3]);
    group.allReduce([x]);
    group.broadcast([x]);
    assert.deepEqual(x.toArray(), [1, 2, 3]);
  });
  group.destroy();
  assert.throws(() => group.barrier(), /used after destroy/);
});

test('shardOrder: each global batch is split into disjoint, equal, ordered slices', () => {
  const order = Int32Array.from([9, 3, 7, 1, 0, 8, 2, 6, 5, 4, 10]);
  // Global batch 4 over 2 ranks, last (partial) batch dropped: the single process's batches are
  // [9 3 7 1] [0 8 2 6]; rank 0 takes the first half of each, rank 1 the second.
  assert.deepEqual([...shardOrder(order, 4, 0, 2, true)], [9, 3, 0, 8]);
  assert.deepEqual([...shardOrder(order, 4, 1, 2, true)], [7, 1, 2, 6]);
  // Kept, the last batch of 3 is split as evenly as possible (1 and 2 images).
  assert.deepEqual([...shardOrder(order, 4, 0, 2, false)], [9, 3, 0, 8, 5]);
  assert.deepEqual([...shardOrder(order, 4, 1, 2, false)], [7, 1, 2, 6, 4, 10]);
  // Three ranks, global batch 6: every image once.
  const all = [0, 1, 2].flatMap((r) => [...shardOrder(order, 6, r, 3, false)]).sort((a, b) => a - b);
  assert.deepEqual(all, [...order].sort((a, b) => a - b));
});
