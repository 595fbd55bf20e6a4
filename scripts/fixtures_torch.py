#!/usr/bin/python3
"""Makes fixtures/torch/numerics.json: forward outputs and gradients of conv, batch norm,
pooling, linear and cross-entropy computed by Debian's PyTorch, for test/torch/numerics.test.ts.

Run: /usr/bin/python3 scripts/fixtures_torch.py   (apt-get install python3-torch)
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = {}


def t(x):
    return {"shape": list(x.shape), "data": [float(v) for v in x.detach().reshape(-1).tolist()]}


def case(name, fn, inputs, extra=None):
    """Runs fn on inputs (all requiring grad), backpropagates a fixed upstream gradient."""
    ins = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    out = fn(**ins)
    up = torch.randn_like(out)
    (out * up).sum().backward()
    cases[name] = {
        "inputs": {k: t(v) for k, v in inputs.items()},
        "upstream": t(up),
        "output": t(out),
        "grads": {k: t(v.grad) for k, v in ins.items() if v.grad is not None},
        **(extra or {}),
    }


x = torch.randn(2, 3, 9, 9)
case("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), {"x": x, "w": torch.randn(4, 3, 3, 3) * 0.2, "b": torch.randn(4)})
case("conv2d_groups", lambda x, w: F.conv2d(x, w, None, stride=1, padding=2, dilation=2, groups=3), {"x": x, "w": torch.randn(6, 1, 3, 3)})

rm, rv = torch.randn(3) * 0.1, torch.rand(3) + 0.5
rm_after, rv_after = rm.clone(), rv.clone()
case("batch_norm_train", lambda x, w, b: F.batch_norm(x, rm_after, rv_after, w, b, training=True, momentum=0.1, eps=1e-5),
     {"x": x, "w": torch.rand(3) + 0.5, "b": torch.randn(3)})
# the closure ran once: rm_after/rv_after now hold the updated running statistics
cases["batch_norm_train"]["running_mean"] = t(rm)
cases["batch_norm_train"]["running_var"] = t(rv)
cases["batch_norm_train"]["running_mean_after"] = t(rm_after)
cases["batch_norm_train"]["running_var_after"] = t(rv_after)
case("batch_norm_eval", lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5),
     {"x": x, "w": torch.rand(3) + 0.5, "b": torch.randn(3)})
cases["batch_norm_eval"]["running_mean"] = t(rm)
cases["batch_norm_eval"]["running_var"] = t(rv)

case("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), {"x": x})
case("avg_pool2d", lambda x: F.avg_pool2d(x, 2), {"x": x})
case("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (4, 3)), {"x": x})
case("linear", lambda x, w, b: F.linear(x, w, b), {"x": torch.randn(5, 7), "w": torch.randn(3, 7), "b": torch.randn(3)})

logits, target = torch.randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
for name, kw in {"cross_entropy": {}, "cross_entropy_smooth": {"label_smoothing": 0.1}}.items():
    ins = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(ins, target, **kw)
    loss.backward()
    cases[name] = {"inputs": {"logits": t(logits), "target": t(target.float())}, "output": t(loss.reshape(1)),
                   "grads": {"logits": t(ins.grad)}, "label_smoothing": kw.get("label_smoothing", 0.0)}

out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "torch", "numerics.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print("wrote", out)
