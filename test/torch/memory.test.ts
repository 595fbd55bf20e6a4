// RSS stays bounded while allocating large tensors in a loop (the caching allocator's job).
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
