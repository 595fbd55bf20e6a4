// A run's device and precision: refusals before any work, the mixed-precision step, the
// out-of-memory message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { SGD } from '../../src/optim/index.js';
import { MixedPrecision, checkDevicePrecision, explainOutOfMemory } from '../../src/train/device_precision.js';

test('device and precision are checked before any work, with what is missing', () => {
  assert.equal(checkDevicePrecision('cpu', 'bf16'), 'cpu');
  assert.throws(() => checkDevicePrecision('cpu', 'fp16'), /--precision fp16 needs a GPU: libtorch's CPU autocast runs bfloat16 only .* use --precision bf16/);
  assert.throws(() => checkDevicePrecision('cpu', 'fp8' as 'fp16'), /--precision: expected one of fp32, bf16, fp16, got 'fp8'/);
  assert.throws(() => checkDevicePrecision('gpu', 'fp32'), /--device: expected cpu, cuda or cuda:N, got 'gpu'/);
  if (!torch.cudaBuilt()) {
    assert.throws(() => checkDevicePrecision('cuda:1', 'bf16'), /--device cuda:1: spottune's addon is built against a libtorch without CUDA .* LIBTORCH=auto npm run build:native/);
  }
});

test('MixedPrecision bf16: the forward pass under autocast, backward and step equal the explicit autocast step', () => {
  const run = (explicit: boolean) => {
    torch.manualSeed(5);
    const w = torch.keep(torch.randn([4, 6]).requiresGrad_(true));
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
    const x = torch.keep(torch.randn([3, 6]));
    const mp = new MixedPrecision('cpu', 'bf16');
    for (let i = 0; i < 2; i++) {
      torch.tidy(() => {
        opt.zeroGrad();
        if (explicit) {
          torch.autocast(() => torch.linear(x, w).float().square().mean(), { device: 'cpu', dtype: 'bfloat16' }).backward();
          opt.step();
        } else {
          const loss = mp.forward(() => torch.linear(x, w).float().square().mean());
          mp.backward(loss);
          assert.equal(mp.unscale([opt]), true);
          mp.step([opt]);
        }
      });
    }
    assert.equal(mp.stateDict(), undefined);
    return w.toArray();
  };
  assert.deepEqual(run(false), run(true));
});

test('a CUDA out-of-memory error names the batch size and a smaller one; other errors pass unchanged', () => {
  const oom = new Error('CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.3 GiB total capacity)\nmore');
  assert.match(String(explainOutOfMemory(oom, 256, 'cuda:0')), /cuda:0 ran out of memory at batch size 256: try --batch-size 128 \(libtorch: CUDA out of memory\. Tried to allocate 2\.00 GiB/);
  const other = new Error('shape mismatch');
  assert.equal(explainOutOfMemory(other, 256, 'cuda:0'), other);
  assert.equal(explainOutOfMemory(oom, 256, 'cpu'), oom);
});
