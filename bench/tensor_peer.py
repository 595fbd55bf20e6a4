#!/usr/bin/python3
"""PyTorch side of bench/tensor.ts: the same computations, timed the same way.
Prints one JSON object {name: [milliseconds per repetition, ...]}."""
import json
import sys

import torch
import torch.nn.functional as F
from peer_util import timed

threads, reps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)



results = {}
x = torch.randn(32, 64, 32, 32)
w = torch.randn(64, 64, 3, 3) * 0.05
results["conv2d forward"] = timed(lambda: F.conv2d(x, w, None, 1, 1), reps)
xg = x.clone().requires_grad_(True)
wg = w.clone().requires_grad_(True)


def conv_fb():
    F.conv2d(xg, wg, None, 1, 1).sum().backward()
    xg.grad = None
    wg.grad = None


results["conv2d forward+backward"] = timed(conv_fb, reps)


def param(*shape, scale=0.1):
    return (torch.randn(*shape) * scale).requires_grad_(True)


def bn_params(c):
    return [torch.ones(c).requires_grad_(True), torch.zeros(c).requires_grad_(True), torch.zeros(c), torch.ones(c)]


P = {"stem": param(16, 3, 3, 3), "stem_bn": bn_params(16)}
for i, (cin, cout) in enumerate([(16, 16), (16, 32), (32, 64)]):
    P[f"b{i}"] = [param(cout, cin, 3, 3), bn_params(cout), param(cout, cout, 3, 3), bn_params(cout)]
    if cin != cout:
        P[f"b{i}_down"] = [param(cout, cin, 1, 1), bn_params(cout)]
P["fc"] = [param(10, 64), torch.zeros(10).requires_grad_(True)]
params = [t for t in [P["stem"], *P["stem_bn"][:2]] ]
for i in range(3):
    b = P[f"b{i}"]
    params += [b[0], *b[1][:2], b[2], *b[3][:2]]
    if f"b{i}_down" in P:
        d = P[f"b{i}_down"]
        params += [d[0], *d[1][:2]]
params += P["fc"]


def bn(x, p):
    return F.batch_norm(x, p[2], p[3], p[0], p[1], True, 0.1, 1e-5)


def net(x):
    x = F.relu(bn(F.conv2d(x, P["stem"], None, 1, 1), P["stem_bn"]))
    for i in range(3):
        b = P[f"b{i}"]
        stride = 1 if i == 0 else 2
        out = F.relu(bn(F.conv2d(x, b[0], None, stride, 1), b[1]))
        out = bn(F.conv2d(out, b[2], None, 1, 1), b[3])
        sc = bn(F.conv2d(x, P[f"b{i}_down"][0], None, stride, 0), P[f"b{i}_down"][1]) if f"b{i}_down" in P else x
        x = F.relu(out + sc)
    x = F.adaptive_avg_pool2d(x, 1).flatten(1)
    return F.linear(x, *P["fc"])


images = torch.randn(32, 3, 64, 64)
labels = torch.randint(0, 10, (32,))


def train_step():
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p.add_(p.grad, alpha=-0.01)
            p.grad = None


results["resnet-style training step (batch 32, 3x64x64)"] = timed(train_step, reps)

a = torch.zeros(1)


def small_ops():
    for _ in range(1000):
        a + a


results["1,000 small ops (add, 1 element)"] = timed(small_ops, reps)
print(json.dumps(results))
