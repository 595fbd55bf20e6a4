#!/usr/bin/python3
"""PyTorch side of bench/spottune.ts: SpotTune written as in the authors' code (PyTorch).
Usage: spottune_peer.py THREADS time NAME REPS [--precision bf16]   times REPS runs of the named
         benchmark after two warm-up runs, prints {"ms": [milliseconds, ...]} (bench/spottune.ts
         alternates these processes with its own); with --precision bf16 the ResNet-26 training step
         runs PyTorch's best CPU configuration: channels-last and torch.autocast('cpu', torch.bfloat16);
       spottune_peer.py THREADS REPS rss   runs REPS ResNet-26 training steps, prints the peak RSS."""
import copy
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from peer_util import timed

threads = int(sys.argv[1])
rss_only = sys.argv[-1] == "rss"
def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


precision = arg("--precision", "fp32")
bf16 = precision == "bf16"
device = torch.device(arg("--device", "cpu"))
cuda = device.type == "cuda"
reps = int(sys.argv[2] if rss_only else sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)



class DownsampleB(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.n_out = n_out

    def forward(self, x):
        x = F.avg_pool2d(x, 2, ceil_mode=True)
        return F.pad(x, (0, 0, 0, 0, 0, self.n_out - x.shape[1]))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = DownsampleB(cout) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.short(x) if self.short is not None else x))


class RebuffiResNet(nn.Module):
    def __init__(self, num_classes, per_stage=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        blocks, cin = [], 32
        for cout in (64, 128, 256):
            for b in range(per_stage):
                blocks.append(Block(cin, cout, 2 if b == 0 else 1))
                cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.bn2 = nn.BatchNorm2d(256)
        self.fc = nn.Linear(256, num_classes)

    def stem(self, x):
        return self.bn1(self.conv1(x))

    def head(self, x):
        return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn2(x)), 1).flatten(1))


def gumbel_softmax(logits, tau=5.0, eps=1e-20):
    u = torch.rand_like(logits)
    y = F.softmax((logits - torch.log(-torch.log(u + eps) + eps)) / tau, dim=-1)
    hard = F.one_hot(y.argmax(-1), 2).to(y.dtype)
    return (hard - y).detach() + y


class SpotTune(nn.Module):
    """The reference code's structure: net (stem, fine-tuned blocks, head), parallel frozen blocks, agent."""

    def __init__(self, net, blocks, agent):
        super().__init__()
        self.net, self.agent = net, agent
        self.frozen = nn.ModuleList([copy.deepcopy(b) for b in blocks])
        self.tuned = blocks
        for b in self.frozen:
            for m in b.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.requires_grad = False

    def forward(self, x, stem, head):
        policy = gumbel_softmax(self.agent(x).view(x.shape[0], -1, 2))[:, :, 1]
        h = stem(x)
        for l, (f, t) in enumerate(zip(self.frozen, self.tuned)):
            m = policy[:, l].view(-1, 1, 1, 1)
            h = f(h) * (1 - m) + t(h) * m
        return head(h)


def train_step_fn(model, stem, head, images, labels):
    net_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("agent.")]
    agent_params = list(model.agent.parameters())
    opt = torch.optim.SGD(net_params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt_agent = torch.optim.SGD(agent_params, lr=0.01, momentum=0.9, weight_decay=1e-3)

    low = torch.bfloat16 if bf16 else torch.float16
    fp16 = precision == "fp16"  # torch.amp.GradScaler since PyTorch 2.3
    scaler = torch.amp.GradScaler(device.type, enabled=fp16) if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler(enabled=fp16)

    def step():
        with torch.autocast(device.type, dtype=low, enabled=precision != "fp32"):
            loss = F.cross_entropy(model(images, stem, head), labels)
        opt.zero_grad()
        opt_agent.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.step(opt_agent)
        scaler.update()
        if cuda:
            torch.cuda.synchronize()

    return step


def agent26(num_blocks):
    a = RebuffiResNet(2 * num_blocks, per_stage=1)
    return lambda x: a.head(torch.nn.Sequential(*a.blocks)(a.stem(x))), a


benchmarks = {}
# SpotTune on ResNet-26, batch 64, 3x64x64
net = RebuffiResNet(10)
agent_fn, agent_mod = agent26(12)


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = agent_mod

    def forward(self, x):
        return agent_fn(x)


model26 = SpotTune(net, net.blocks, Agent())
model26.train()
images = torch.randn(64, 3, 64, 64)
labels = torch.randint(0, 10, (64,))
if bf16:
    model26 = model26.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
step26 = train_step_fn(model26, net.stem, net.head, images, labels)
if rss_only:
    for _ in range(reps):
        step26()
    # VmHWM, not ru_maxrss: after fork + exec, ru_maxrss starts from the parent's peak.
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mib": hwm / 1024}))
    sys.exit(0)
benchmarks["SpotTune ResNet-26 training step (batch 64, 3x64x64)"] = step26

# Evaluation with both branches, the reference code's way: half the decisions each way
decisions = torch.bernoulli(torch.full((64, 12), 0.5))


def eval_both():
    model26.eval()
    with torch.no_grad():
        h = net.stem(images)
        for l, (f, t) in enumerate(zip(model26.frozen, model26.tuned)):
            m = decisions[:, l].view(-1, 1, 1, 1)
            h = f(h) * (1 - m) + t(h) * m
        net.head(h)


benchmarks["SpotTune ResNet-26 evaluation, both branches (batch 64)"] = eval_both

# SpotTune on torchvision ResNet-50, batch 16, 3x112x112
r50 = torchvision.models.resnet50(num_classes=10)
blocks50 = nn.ModuleList([b for layer in (r50.layer1, r50.layer2, r50.layer3, r50.layer4) for b in layer])
agent_fn50, agent_mod50 = agent26(len(blocks50))


class Agent50(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = agent_mod50

    def forward(self, x):
        return agent_fn50(F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False))


model50 = SpotTune(r50, blocks50, Agent50())
model50.train()
stem50 = lambda x: r50.maxpool(r50.relu(r50.bn1(r50.conv1(x))))
head50 = lambda x: r50.fc(torch.flatten(r50.avgpool(x), 1))
if sys.argv[3] == "SpotTune ResNet-50 training step (batch 64, 3x224x224)":
    # The GPU benchmark (scripts/gpu/check.sh): PyTorch eager, channels-last, on --device.
    model50 = model50.to(device, memory_format=torch.channels_last)
    images50 = torch.randn(64, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    labels50 = torch.randint(0, 10, (64,), device=device)
    benchmarks[sys.argv[3]] = train_step_fn(model50, stem50, head50, images50, labels50)
else:
    images50 = torch.randn(16, 3, 112, 112)
    labels50 = torch.randint(0, 10, (16,))
    benchmarks["SpotTune ResNet-50 training step (batch 16, 3x112x112)"] = train_step_fn(model50, stem50, head50, images50, labels50)

print(json.dumps({"ms": timed(benchmarks[sys.argv[3]], reps, warmup=2)}))
