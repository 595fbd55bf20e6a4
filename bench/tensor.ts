// Tensor-core benchmark: this library against Debian's PyTorch, in the same run, same
// threads. Run: npm run bench -- tensor   (or node --import tsx bench/tensor.ts)
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { comparePeer, timed, type Row } from './harness.js';

export function tensorBench(threads: number, reps: number): Row[] {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const ours: Record<string, number[]> = {};
  const x = torch.randn([32, 64, 32, 32]);
  const w = torch.randn([64, 64, 3, 3]).mul(0.05);
  ours['conv2d forward'] = timed(reps, () => torch.tidy(() => { torch.conv2d(x, w, undefined, 1, 1); }));
  const xg = x.clone().requiresGrad_();
  const wg = w.clone().requiresGrad_();
  ours['conv2d forward+backward'] = timed(reps, () => torch.tidy(() => {
    torch.conv2d(xg, wg, undefined, 1, 1).sum().backward();
    xg.grad = undefined;
    wg.grad = undefined;
  }));

  const param = (shape: number[], scale = 0.1) => torch.randn(shape).mul(scale).requiresGrad_();
  type BN = [Tensor, Tensor, Tensor, Tensor];
  const bnParams = (c: number): BN => [torch.ones([c]).requiresGrad_(), torch.zeros([c]).requiresGrad_(), torch.zeros([c]), torch.ones([c])];
  const stem = param([16, 3, 3, 3]);
  const stemBn = bnParams(16);
  const blocks = ([[16, 16], [16, 32], [32, 64]] as const).map(([cin, cout]) => ({
    conv1: param([cout, cin, 3, 3]), bn1: bnParams(cout), conv2: param([cout, cout, 3, 3]), bn2: bnParams(cout),
    down: cin !== cout ? { conv: param([cout, cin, 1, 1]), bn: bnParams(cout) } : undefined,
  }));
  const fcW = param([10, 64]);
  const fcB = torch.zeros([10]).requiresGrad_();
  const params = [stem, stemBn[0], stemBn[1], fcW, fcB];
  for (const b of blocks) {
    params.push(b.conv1, b.bn1[0], b.bn1[1], b.conv2, b.bn2[0], b.bn2[1]);
    if (b.down) params.push(b.down.conv, b.down.bn[0], b.down.bn[1]);
  }
  const bn = (t: Tensor, p: BN) => torch.batchNorm(t, p[2], p[3], p[0], p[1], true, 0.1, 1e-5);
  const net = (input: Tensor): Tensor => {
    let h = bn(torch.conv2d(input, stem, undefined, 1, 1), stemBn).relu();
    blocks.forEach((b, i) => {
      const stride = i === 0 ? 1 : 2;
      let out = bn(torch.conv2d(h, b.conv1, undefined, stride, 1), b.bn1).relu();
      out = bn(torch.conv2d(out, b.conv2, undefined, 1, 1), b.bn2);
      const sc = b.down ? bn(torch.conv2d(h, b.down.conv, undefined, stride, 0), b.down.bn) : h;
      h = out.add(sc).relu();
    });
    return torch.linear(torch.adaptiveAvgPool2d(h, 1).flatten(1), fcW, fcB);
  };
  const images = torch.randn([32, 3, 64, 64]);
  const labels = torch.randint(0, 10, [32]);
  ours['resnet-style training step (batch 32, 3x64x64)'] = timed(reps, () => torch.tidy(() => {
    torch.crossEntropy(net(images), labels).backward();
    torch.noGrad(() => {
      for (const p of params) {
        const g = p.grad!;
        p.add_(g, -0.01);
        p.grad = undefined;
      }
    });
  }));

  const a = torch.zeros([1]);
  ours['1,000 small ops (add, 1 element)'] = timed(reps, () => torch.tidy(() => { for (let i = 0; i < 1000; i++) a.add(a); }));

  return comparePeer('bench/tensor_peer.py', threads, reps, ours, {
    'resnet-style training step (batch 32, 3x64x64)': 0.8,
  });
}
