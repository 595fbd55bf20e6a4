#!/usr/bin/python3
"""Makes the fixtures of test/optim and test/nn with Debian's PyTorch 1.13:

fixtures/optim/trajectories.json  parameters and learning rates after each of 10 steps of
                                  SGD/Adam/AdamW with schedules, on a float64 linear regression
fixtures/nn/model.json            a Conv2d+BatchNorm2d+ReLU+pooling+Linear model (float64, fixed
                                  weights): state_dict keys, train-mode output, loss, gradients,
                                  updated running statistics, eval-mode output
fixtures/nn/init.json             default Conv2d/Linear init and kaiming_normal_ under fixed seeds

Run: /usr/bin/python3 scripts/fixtures_optim.py   (apt-get install python3-torch)
"""
import json
import os
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# SequentialLR restarts a schedule with step(0), which PyTorch marks deprecated.
warnings.filterwarnings("ignore", category=UserWarning)


def flat(x):
    return [float(v) for v in x.detach().reshape(-1).tolist()]


def write(path, value):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        json.dump(value, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path)


# ---------- optimizers: y ≈ X·Wᵀ + b, mean squared error ----------
torch.manual_seed(0)
X = torch.randn(8, 3, dtype=torch.float64)
y = X @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.3 + 0.1 * torch.randn(8, 1, dtype=torch.float64)
W0 = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64)
b0 = torch.tensor([0.05], dtype=torch.float64)


def sgd_nesterov_multistep(W, b):
    opt = torch.optim.SGD([W, b], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 6, 6], gamma=0.5)


def sgd_groups_dampening_multistep(W, b):
    opt = torch.optim.SGD([{"params": [W], "weight_decay": 0.05}, {"params": [b], "lr": 0.02}], lr=0.1, momentum=0.8, dampening=0.1)
    return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5], gamma=0.1)


def adam_steplr(W, b):
    opt = torch.optim.Adam([W, b], lr=0.05, betas=(0.9, 0.99), weight_decay=0.01)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)


def adam_amsgrad_cosine(W, b):
    opt = torch.optim.Adam([W, b], lr=0.1, eps=1e-6, amsgrad=True)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.001)


def adamw_warmup_cosine(W, b):
    opt = torch.optim.AdamW([W, b], lr=0.05, weight_decay=0.1)
    warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=3)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    return opt, torch.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[3])


def trajectory(make):
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt, sched = make(W, b)
    steps = []
    for _ in range(10):
        opt.zero_grad()
        F.mse_loss(F.linear(X, W, b), y).backward()
        opt.step()
        sched.step()
        steps.append({"params": [flat(W), flat(b)], "lr": [g["lr"] for g in opt.param_groups]})
    return steps


cases = [sgd_nesterov_multistep, sgd_groups_dampening_multistep, adam_steplr, adam_amsgrad_cosine, adamw_warmup_cosine]
write("fixtures/optim/trajectories.json", {
    "X": flat(X), "y": flat(y), "W0": flat(W0), "b0": flat(b0),
    "cases": {make.__name__: trajectory(make) for make in cases},
})

# ---------- a small model in train mode ----------
torch.manual_seed(1)
model = nn.Sequential(
    nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
    nn.MaxPool2d(2),
    nn.AvgPool2d(2, stride=1),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(4, 3),
).double()
with torch.no_grad():
    for name, t in model.state_dict().items():
        if name.endswith("running_var"):
            t.copy_(torch.rand_like(t) + 0.5)
        elif t.is_floating_point():
            t.copy_(torch.randn_like(t))
state = {k: {"shape": list(v.shape), "data": flat(v)} for k, v in model.state_dict().items()}
x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
target = torch.tensor([0, 2, 1])
model.train()
out = model(x)
loss = F.cross_entropy(out, target)
loss.backward()
after = model.state_dict()
model.eval()
out_eval = model(x)
write("fixtures/nn/model.json", {
    "state": state,
    "input": {"shape": list(x.shape), "data": flat(x)},
    "target": target.tolist(),
    "output": flat(out),
    "loss": loss.item(),
    "grads": {name: flat(p.grad) for name, p in model.named_parameters()},
    "buffersAfter": {k: flat(v) for k, v in after.items() if "running" in k or "num_batches" in k},
    "outputEval": flat(out_eval),
})

# ---------- initialisation under fixed seeds (float32) ----------
torch.manual_seed(0)
conv = nn.Conv2d(3, 4, 3)
linear = nn.Linear(5, 2)
torch.manual_seed(1)
kaiming = nn.init.kaiming_normal_(torch.empty(8, 4, 3, 3), mode="fan_out", nonlinearity="relu")
write("fixtures/nn/init.json", {
    "conv": {"weight": flat(conv.weight), "bias": flat(conv.bias)},
    "linear": {"weight": flat(linear.weight), "bias": flat(linear.bias)},
    "kaimingNormalFanOutRelu": flat(kaiming),
})
