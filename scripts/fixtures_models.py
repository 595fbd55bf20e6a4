#!/usr/bin/python3
"""Saves random-init torchvision ResNets (no download) and their logits, for
test/models/torchvision.test.ts. Too large to commit (45-100 MB), so the test runs this
into a temporary folder:  /usr/bin/python3 scripts/fixtures_models.py OUTDIR resnet18 resnet50

Per arch: OUTDIR/<arch>.pth (the state_dict, as torch.save writes it) and
OUTDIR/<arch>_io.pth ({input, eval_logits, train_logits}).
"""
import os
import sys

import torch
import torchvision

out, archs = sys.argv[1], sys.argv[2:]
for arch in archs:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10)
    # Non-trivial batch-norm affine parameters, and running statistics calibrated on random
    # batches (cumulative average), so eval mode is tested for real with logits of order 1.
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
            m.momentum = None
        model.train()
        for _ in range(4):
            model(torch.randn(4, 3, 64, 64))
        for m in bns:
            m.momentum = 0.1
    torch.save(model.state_dict(), os.path.join(out, f"{arch}.pth"))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        eval_logits = model.eval()(x)
        train_logits = model.train()(x)
    torch.save({"input": x, "eval_logits": eval_logits, "train_logits": train_logits}, os.path.join(out, f"{arch}_io.pth"))
print("ok")
