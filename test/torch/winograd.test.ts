// The Winograd F(4×4, 3×3) convolution (native/src/kernels/winograd.cc) against libtorch's direct
// convolution in float64: forward, input gradient and weight gradient, over shapes that
// exercise partial tiles, channel counts that are not multiples of 16, and layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

/** max |a − b| / max |b|. */
function relErr(a: Tensor, b: Tensor): number {
  return (a.to('float64').sub(b).abs().max().item() as number) / Math.max(1e-30, b.abs().max().item() as number);
}

function direct(f: () => Tensor): Tensor {
  torch.useWinograd(false);
  try {
    return f();
  } finally {
    torch.useWinograd(true);
  }
}

// At least 16 output tiles of 4×4 each (the kernel's threshold; below it convolutions stay
// direct); up to 128 tiles take the few-tiles paths (channels in blocks), the last two
// shapes the chunked ones.
const shapes: [number, number, number, number, number][] = [
  // batch, in channels, out channels, height, width
  [16, 24, 40, 4, 4],
  [64, 136, 72, 4, 4],
  [64, 8, 8, 4, 4],
  [8, 16, 24, 9, 9],
  [8, 32, 16, 13, 6],
  [16, 64, 64, 8, 8],
  [64, 24, 40, 1, 3],
  [64, 16, 16, 5, 7],
  [16, 64, 64, 32, 32],
];

for (const [n, c, k, h, w] of shapes) for (const layout of ['contiguous', 'channelsLast'] as const) {
  test(`winograd conv3x3 ${n}x${c}x${h}x${w} -> ${k} channels, ${layout} weights, equals direct convolution (float64 reference)`, () => {
    torch.tidy(() => {
      torch.manualSeed(n * 1000 + c + k + h + w);
      const x64 = torch.randn([n, c, h, w], { dtype: 'float64' });
      const w64 = torch.randn([k, c, 3, 3], { dtype: 'float64' });
      const g64 = torch.randn([n, k, h, w], { dtype: 'float64' });
      const xr = x64.clone().requiresGrad_(true), wr = w64.clone().requiresGrad_(true);
      const ref = torch.conv2d(xr, wr, undefined, 1, 1);
      ref.backward(g64);

      const x = x64.to('float32').requiresGrad_(true), wt = w64.to('float32').contiguous(torch.memoryFormat[layout]).requiresGrad_(true);
      const y = torch.conv2d(x, wt, undefined, 1, 1);
      assert.deepEqual([...y.shape], [n, k, h, w]);
      y.backward(g64.to('float32'));
      assert.deepEqual(wt.grad!.strides, wt.strides, 'the weight gradient is laid out as the weight');
      for (const [what, got, want] of [['output', y, ref], ['input gradient', x.grad!, xr.grad!], ['weight gradient', wt.grad!, wr.grad!]] as const) {
        const e = relErr(got, want);
        assert.ok(e < 5e-5, `${what}: relative error ${e}`);
      }
      // Close to direct float32 convolution but not bit-identical: the Winograd kernel ran.
      const d = direct(() => torch.conv2d(x64.to('float32'), w64.to('float32'), undefined, 1, 1));
      const e = relErr(y.detach(), d.to('float64'));
      assert.ok(e > 0 && e < 5e-5, `against direct float32: ${e}`);
    });
  });
}

test('winograd: any input layout (channels-last, non-contiguous) gives the same result', () => {
  torch.tidy(() => {
    torch.manualSeed(1);
    const x = torch.randn([8, 16, 10, 12]), w = torch.randn([16, 16, 3, 3]);
    const a = torch.conv2d(x, w, undefined, 1, 1);
    const b = torch.conv2d(x.contiguous(torch.memoryFormat.channelsLast), w, undefined, 1, 1);
    const wide = torch.randn([8, 16, 10, 24]);
    const c = torch.conv2d(wide.slice(3, 0, 24, 2), w, undefined, 1, 1);
    const c2 = torch.conv2d(wide.slice(3, 0, 24, 2).contiguous(), w, undefined, 1, 1);
    assert.equal(a.sub(b).abs().max().item(), 0);
    assert.equal(c.sub(c2).abs().max().item(), 0);
  });
});

test('winograd: frozen weights get no gradient, the input still does', () => {
  torch.tidy(() => {
    const x = torch.randn([32, 8, 6, 6]).requiresGrad_(true), w = torch.randn([8, 8, 3, 3]);
    torch.conv2d(x, w, undefined, 1, 1).sum().backward();
    assert.equal(w.grad, undefined);
    assert.deepEqual([...x.grad!.shape], [32, 8, 6, 6]);
  });
});

test('winograd: cases it does not cover fall back to direct convolution unchanged', () => {
  torch.tidy(() => {
    torch.manualSeed(2);
    for (const [x, w] of [
      [torch.randn([32, 3, 8, 8]), torch.randn([16, 3, 3, 3])], // 3 input channels
      [torch.randn([32, 16, 8, 8]), torch.randn([12, 16, 3, 3])], // 12 output channels
      [torch.randn([32, 16, 8, 8], { dtype: 'float64' }), torch.randn([16, 16, 3, 3], { dtype: 'float64' })], // float64
      [torch.randn([2, 16, 8, 8]), torch.randn([16, 16, 3, 3])], // 8 tiles
      [torch.randn([16, 520, 8, 8]), torch.randn([520, 520, 3, 3]).mul(0.01)], // more than 512×512 channel pairs
    ]) {
      const y = torch.conv2d(x, w, undefined, 1, 1);
      const d = direct(() => torch.conv2d(x, w, undefined, 1, 1));
      assert.equal(y.sub(d).abs().max().item(), 0);
    }
  });
});

test('winograd: a channel mismatch is libtorch\'s error, not a crash', () => {
  torch.tidy(() => {
    assert.throws(() => torch.conv2d(torch.randn([1, 16, 8, 8]), torch.randn([16, 24, 3, 3]), undefined, 1, 1), /channels/);
  });
});
