// A small CNN written with the raw tensor API, trained for one epoch on Fashion-MNIST
// (Debian's dataset-fashion-mnist), then evaluated on the test set.
// Run: node --import tsx examples/fashion-cnn.ts
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { FASHION_MNIST_ROOT, readIdx } from '../src/data/idx.js';

function load(split: 'train' | 't10k'): { x: Tensor; y: Tensor } {
  const images = readIdx(join(FASHION_MNIST_ROOT, `${split}-images-idx3-ubyte.gz`));
  const labels = readIdx(join(FASHION_MNIST_ROOT, `${split}-labels-idx1-ubyte.gz`));
  const [n, h, w] = images.dims;
  return torch.tidy(() => ({
    x: torch.tensor(images.data, { shape: [n, 1, h, w] }).float().div(255).sub(0.286).div(0.353),
    y: torch.tensor(labels.data).long(),
  }));
}

torch.manualSeed(0);
const train = load('train');
const test = load('t10k');
const param = (shape: number[], fanIn: number) => torch.randn(shape).mul(Math.sqrt(2 / fanIn)).requiresGrad_();
const params = {
  c1: param([16, 1, 3, 3], 9), b1: torch.zeros([16]).requiresGrad_(),
  c2: param([32, 16, 3, 3], 144), b2: torch.zeros([32]).requiresGrad_(),
  fc: param([10, 32 * 7 * 7], 32 * 7 * 7), fb: torch.zeros([10]).requiresGrad_(),
};
const momentum = new Map<Tensor, Tensor>();

function net(x: Tensor): Tensor {
  let h = torch.maxPool2d(torch.conv2d(x, params.c1, params.b1, 1, 1).relu(), 2);
  h = torch.maxPool2d(torch.conv2d(h, params.c2, params.b2, 1, 1).relu(), 2);
  return torch.linear(h.flatten(1), params.fc, params.fb);
}

const batch = 64;
const n = train.y.shape[0];
const order = torch.randperm(n);
const start = performance.now();
let seen = 0;
for (let i = 0; i + batch <= n; i += batch) {
  torch.tidy(() => {
    const idx = order.slice(0, i, i + batch);
    const loss = torch.crossEntropy(net(train.x.index([idx])), train.y.index([idx]));
    loss.backward();
    torch.noGrad(() => {
      for (const p of Object.values(params)) {
        const g = p.grad!;
        const buf = momentum.get(p);
        if (buf) buf.mul_(0.9).add_(g);
        else momentum.set(p, torch.keep(g.clone()));
        p.sub_(momentum.get(p)!, 0.05);
        p.grad = undefined;
      }
    });
    seen += batch;
    if ((i / batch) % 200 === 0) console.log(`step ${i / batch}: loss ${loss.item().toFixed(4)}`);
  });
}
const secs = (performance.now() - start) / 1000;
const correct = torch.tidy(() => torch.noGrad(() => net(test.x).argmax(1).eq(test.y).sum().item()));
console.log(`one epoch: ${seen} images in ${secs.toFixed(1)} s (${(seen / secs).toFixed(0)} images/s)`);
console.log(`Fashion-MNIST test accuracy: ${((100 * correct) / test.y.shape[0]).toFixed(2)}%`);
