// RSS stays bounded while allocating large tensors in a loop (the caching allocator's job).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';

test('2,000 iterations of [32,64,32,32] tensors inside tidy keep RSS bounded', () => {
  const mib = 2 ** 20;
  const w = torch.randn([64, 64, 3, 3]).mul(0.01);
  for (let i = 0; i < 20; i++) torch.tidy(() => torch.conv2d(torch.randn([32, 64, 32, 32]), w, undefined, 1, 1).relu().sum());
  const warm = process.memoryUsage().rss;
  let peak = warm;
  for (let i = 0; i < 2000; i++) {
    torch.tidy(() => {
      const a = torch.randn([32, 64, 32, 32]); // 8 MiB each
      const b = a.mul(2).add(1);
      return b.sum().item();
    });
    if (i % 100 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const growth = (peak - warm) / mib;
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB over 2,000 iterations`);
  assert.ok(torch.memory().bytes < 8 * mib, 'no tensor bytes left behind');
  w.dispose();
});

test('a full allocator cache makes room for the current sizes by dropping the oldest blocks', () => {
  // In a child: the cache limit is read once, at start-up. 1 MiB blocks fill an 8 MiB cache;
  // a block of another size must then be cached (the oldest 1 MiB blocks go), not unmapped.
  const script = `
    import * as torch from './src/torch/index.js';
    const mib = 2 ** 20;
    torch.tidy(() => { for (let i = 0; i < 8; i++) torch.zeros([mib / 4]); });
    const full = torch.memory().cachedBytes;
    torch.tidy(() => { torch.zeros([3 * mib / 4]); });
    const after = torch.memory().cachedBytes;
    const again = torch.zeros([3 * mib / 4]);
    const reused = torch.memory().cachedBytes;
    console.log(JSON.stringify({ full, after, reused }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, SPOTTUNE_CACHE_MB: '8' } });
  assert.equal(r.status, 0, r.stderr);
  const { full, after, reused } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { full: number; after: number; reused: number };
  const mib = 2 ** 20;
  assert.equal(full, 8 * mib, 'eight 1 MiB blocks cached');
  assert.equal(after, 8 * mib, 'the 3 MiB block is cached in place of the three oldest 1 MiB blocks');
  assert.equal(reused, 5 * mib, 'the next 3 MiB tensor reuses it');
});
