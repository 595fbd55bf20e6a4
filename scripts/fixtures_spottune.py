"""The SpotTune oracle: SpotTune as the authors' code computes it (github gyhui14/spottune:
spottune_models.py, agent_net.py, gumbel_softmax.py, main.py's training step; models.py for the
pre-trained Rebuffi ResNet-26), written here in PyTorch independently of this library, and the
fixtures test/spottune/oracle.test.ts and test/models/authors_checkpoint.test.ts compare against.
Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14).

  fixtures_spottune.py [OUTDIR]     (default fixtures/spottune)

Nothing random is shared through an RNG: every weight and input is a function of its name (see
`hash_uniform`, mirrored in test/spottune/oracle.ts), and the Gumbel noise's uniform draws U are
written into the fixtures, so both sides sample the same decisions. Large tensors are kept as a
sketch (norm and four dot products with hashed probe vectors) to keep the files small.

Fixtures:
  <case>.json             a SpotTune training case, computed in float64: agent logits, decisions,
                          logits, loss and the gradient of every parameter at the first step, the
                          displacement of every parameter and the batch-norm statistics after three
                          SGD steps of both optimizers, evaluation with argmax and with sampled
                          decisions; with each tensor, the spread of float32 around it (float32_spread)
  rebuffi_arch.json       the authors' models.py ResNet-26 and agent_net.py agent: logits for
                          weights given by name, mapped by module order as load_weights_to_flatresnet does
  resnet26_pretrained.t7  torch.save({'net': models.ResNet}) in the legacy format, as the authors'
                          released file (PyTorch 0.4 pickling: Parameter(data, requires_grad), `_backend`)
  resnet26_py2.t7         the same written as Python 2 pickles it (str as SHORT_BINSTRING)
"""
import contextlib
import io
import json
import math
import os
import pickle
import struct
import sys
import types
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.set_num_threads(1)
M32 = np.uint64(0xFFFFFFFF)


# ---------- values by name (mirrored in test/spottune/oracle.ts) ----------

def fnv1a(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def hash_uniform(key, n):
    """n float64 values in [-1, 1): a 32-bit integer hash of (key, index)."""
    i = np.arange(n, dtype=np.uint64)
    h = (np.uint64(fnv1a(key)) + i * np.uint64(0x9E3779B1)) & M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M32
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 2.0 ** 31 - 1.0


def named_value(key, name, shape):
    """The float32 value of a parameter or buffer from its name (its last part says what it is)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = hash_uniform(key, n)
    last = name.rsplit('.', 1)[-1]
    if last == 'num_batches_tracked':
        return torch.zeros((), dtype=torch.int64)
    if last == 'running_var':
        v = 1.0 + 0.25 * u
    elif last == 'running_mean' or last == 'bias':
        v = 0.1 * u
    elif len(shape) == 1:  # batch-norm weight
        v = 1.0 + 0.2 * u
    else:  # convolution or linear weight: uniform with variance 2 / fan-in
        v = u * math.sqrt(6.0 / int(np.prod(shape[1:])))
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)


def fill(module, prefix, names=None):
    """Sets every tensor of module.state_dict() from `prefix + name`; `names` maps its names to ours."""
    with torch.no_grad():
        for name, t in module.state_dict().items():
            ours = names[name] if names else name
            t.copy_(named_value(prefix + ours, ours, tuple(t.shape)))


def summary(t):
    """Small tensors in full; large ones as norm and dot products with four hashed probes."""
    a = t.detach().double().flatten().numpy()
    if a.size <= 16:
        return {'values': [short(v) for v in a]}
    return {'n': int(a.size), 'l2': short(np.linalg.norm(a)), 'dots': [short(a @ hash_uniform(f'probe{j}', a.size)) for j in range(4)]}


def short(v):
    """10 significant digits: far below the 1e-5 the tests allow, and half the digits of a double."""
    return float(f'{float(v):.10g}')


def f32_list(t):
    return [short(v) for v in t.detach().double().flatten().tolist()]


# ---------- the authors' networks (spottune_models.py, agent_net.py), width as a factor ----------

def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class Shortcut(nn.Module):
    """DownsampleB: average-pool by 2, then as many zero channels as there are channels."""

    def __init__(self):
        super().__init__()
        self.avg = nn.AvgPool2d(2)

    def forward(self, x):
        r = self.avg(x)
        return torch.cat((r, r * 0), 1)


class Residual(nn.Module):
    """Their BasicBlock: the residual branch only (shortcut and ReLU are applied by the network)."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        # Their conv2 is Sequential(ReLU(inplace), conv) applied after F.relu: a no-op on values;
        # here not in place, since PyTorch 1.13 refuses to overwrite the output F.relu saved.
        self.conv2 = nn.Sequential(nn.ReLU(), conv3x3(planes, planes))
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


def make_stages(base, n):
    stages, shortcuts, cin = [], [], base
    for planes in (2 * base, 4 * base, 8 * base):
        stages.append(nn.ModuleList([Residual(cin if b == 0 else planes, planes, 2 if b == 0 else 1) for b in range(n)]))
        shortcuts.append(Shortcut() if cin != planes else nn.Sequential())
        cin = planes
    return nn.ModuleList(stages), nn.ModuleList(shortcuts)


def rebuffi_name(name, prefix, block):
    """A Rebuffi ResNet's state_dict name in ours. `block(kind, stage, index)` places a block
    ('blocks' or 'parallel_blocks'); their conv2 is Sequential(ReLU, conv), ours the conv; the
    head's bn2 and linear are our <prefix>.bn2 and <prefix>.fc; the stem keeps its name."""
    parts = name.split('.')
    if parts[0] in ('blocks', 'parallel_blocks'):
        rest = parts[3:]
        rest = ['conv2'] + rest[2:] if rest[0] == 'conv2' else rest
        return '.'.join([block(parts[0], int(parts[1]), int(parts[2]))] + rest)
    if parts[0] == 'bn2':
        return f'{prefix}.bn2.{parts[-1]}'
    if parts[0] == 'linear':
        return f'{prefix}.fc.{parts[-1]}'
    return f'{prefix}.{name}'


class SpotTuneRebuffi(nn.Module):
    """spottune_models.ResNet: stem, `blocks` (frozen, pre-trained), `parallel_blocks` (fine-tuned)."""

    def __init__(self, base, n, num_classes):
        super().__init__()
        self.conv1 = conv3x3(3, base)
        self.bn1 = nn.BatchNorm2d(base)
        self.blocks, self.ds = make_stages(base, n)
        self.parallel_blocks, self.parallel_ds = make_stages(base, n)
        self.bn2 = nn.Sequential(nn.BatchNorm2d(8 * base), nn.ReLU(True))
        self.linear = nn.Linear(8 * base, num_classes)
        self.n = n

    def forward(self, x, policy):
        x = self.bn1(self.conv1(x))
        t = 0
        for s in range(3):
            for b in range(self.n):
                mask = policy[:, t].contiguous().float().view(-1, 1, 1, 1)
                f1 = F.relu((self.ds[s](x) if b == 0 else x) + self.blocks[s][b](x))
                f2 = F.relu((self.parallel_ds[s](x) if b == 0 else x) + self.parallel_blocks[s][b](x))
                x = f1 * (1 - mask) + f2 * mask
                t += 1
        x = F.adaptive_avg_pool2d(self.bn2(x), 1).flatten(1)
        return self.linear(x)

    def our_names(self):
        """Its state_dict names to ours (src/spottune: net.*, frozen.<block>.*)."""
        def block(kind, s, b):
            return f'frozen.{s * self.n + b}' if kind == 'blocks' else f'net.layer{s + 1}.{b}'
        return {name: rebuffi_name(name, 'net', block) for name in self.state_dict()}

    def frozen_convs(self):
        # main.py: every Conv2d outside parallel_blocks but the first (the stem's) is frozen
        return [m for s in self.blocks for blk in s for m in blk.modules() if isinstance(m, nn.Conv2d)]


class AgentRebuffi(nn.Module):
    """agent_net.resnet: a Rebuffi ResNet with one block per stage, 2·L outputs. (Their class also
    builds an unused parallel copy of the blocks; it gets no gradient, so SGD never touches it.)"""

    def __init__(self, base, outputs):
        super().__init__()
        self.conv1 = conv3x3(3, base)
        self.bn1 = nn.BatchNorm2d(base)
        self.blocks, self.ds = make_stages(base, 1)
        self.bn2 = nn.Sequential(nn.BatchNorm2d(8 * base), nn.ReLU(True))
        self.linear = nn.Linear(8 * base, outputs)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        for s in range(3):
            x = F.relu(self.ds[s](x) + self.blocks[s][0](x))
        return self.linear(F.adaptive_avg_pool2d(self.bn2(x), 1).flatten(1))

    def our_names(self):
        return {name: rebuffi_name(name, 'agent', lambda kind, s, b: f'agent.layer{s + 1}.{b}') for name in self.state_dict()}


class SpotTuneTorchvision(nn.Module):
    """The same method on a torchvision ResNet: each block (with its shortcut and ReLU) frozen and
    fine-tuned, mixed per image; stem and new head shared and trained."""

    def __init__(self, arch, num_classes):
        super().__init__()
        self.net = getattr(torchvision.models, arch)(num_classes=num_classes)
        source = getattr(torchvision.models, arch)(num_classes=num_classes)
        self.frozen = nn.ModuleList([b for layer in (source.layer1, source.layer2, source.layer3, source.layer4) for b in layer])
        self.tuned = [b for layer in (self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4) for b in layer]

    def forward(self, x, policy):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        for t, (f, g) in enumerate(zip(self.frozen, self.tuned)):
            mask = policy[:, t].contiguous().float().view(-1, 1, 1, 1)
            x = f(x) * (1 - mask) + g(x) * mask
        return n.fc(torch.flatten(n.avgpool(x), 1))

    def our_names(self):
        return {k: k for k in self.state_dict()}

    def frozen_convs(self):
        return [m for m in self.frozen.modules() if isinstance(m, nn.Conv2d)]


# ---------- gumbel_softmax.py, with U given ----------

def gumbel_softmax(logits, tau, u, eps=1e-20):
    g = -torch.log(-torch.log(u + eps) + eps)
    y = F.softmax((logits + g) / tau, dim=-1)
    _, ind = y.max(dim=-1)
    y_hard = torch.zeros_like(y).view(-1, y.shape[-1])
    y_hard.scatter_(1, ind.view(-1, 1), 1)
    return (y_hard.view(*y.shape) - y).detach() + y


def global_k(policy, k, lambda1, lambda2):
    """The paper's Global-k loss on the decisions: v_l = batch mean of I_l,
    λ1·(Σ_l v_l − k)² + λ2·(−Σ_l v_l·log v_l), with 0·log 0 = 0 (log taken at max(v, 1e-8))."""
    v = policy.mean(0)
    lk = (v.sum() - k) ** 2
    le = -(v * torch.log(torch.clamp(v, min=1e-8))).sum()
    return lambda1 * lk + lambda2 * le


# ---------- one case: three training steps, then evaluation ----------

def image(key, shape):
    return torch.from_numpy(hash_uniform(key, int(np.prod(shape))).astype(np.float32)).reshape(shape)


def uniforms(key, n):
    """U in (0, 1), float32."""
    return torch.from_numpy((hash_uniform(key, n) * 0.5 + 0.5).clip(1e-6, 1 - 1e-6).astype(np.float32))


def run_case(name, make, dtype=torch.float64, channels_last=False, winograd_noise=0.0):
    """One run of a case: the raw values (float64) of everything the fixture holds. dtype and
    channels_last: PyTorch's own arithmetic to compare with; winograd_noise: every 3×3 stride-1
    convolution's output gets that much Gaussian noise (relative to its RMS), the size of the
    Winograd kernel's float32 rounding (see float32_spread)."""
    model, agent, blocks, c = make()
    names = {**{f'model.{k}': v for k, v in model.our_names().items()}, **{f'agent.{k}': v for k, v in agent.our_names().items()}}
    init_net(model)
    fill(agent, 'agent:', {k: v[len('agent.'):] for k, v in agent.our_names().items()})
    for m in model.frozen_convs():
        m.weight.requires_grad = False
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in (model, agent):
        m.to(dtype=dtype, memory_format=fmt)
    if winograd_noise:
        noise = torch.Generator().manual_seed(0)
        for m in list(model.modules()) + list(agent.modules()):
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.stride == (1, 1):
                m.register_forward_hook(lambda _m, _x, y: y + winograd_noise * y.detach().square().mean().sqrt() * torch.randn(y.shape, generator=noise, dtype=y.dtype))
    params = lambda: [(names[f'model.{k}'], p) for k, p in model.named_parameters()] + [(names[f'agent.{k}'], p) for k, p in agent.named_parameters()]
    buffers = lambda: [(names[f'model.{k}'], b) for k, b in model.named_buffers()] + [(names[f'agent.{k}'], b) for k, b in agent.named_buffers()]
    start = {n: p.detach().clone() for n, p in params()}
    net_opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=c['lr'], momentum=c['momentum'], weight_decay=c['weightDecay'])
    agent_opt = torch.optim.SGD(agent.parameters(), lr=c['lrAgent'], momentum=c['momentum'], weight_decay=c['weightDecayAgent'])
    B, shape = c['batch'], [c['batch'], 3, c['size'], c['size']]
    raw = lambda t: t.detach().double().clone()
    out = {'case': c, 'blocks': blocks, 'labels': [], 'uniform': [], 'steps': []}
    model.train()
    agent.train()
    for step in range(3):
        x = image(f'input:{step}', shape).to(dtype=dtype, memory_format=fmt)
        y = torch.from_numpy(np.floor((hash_uniform(f'label:{step}', B) * 0.5 + 0.5) * c['classes']).astype(np.int64))
        u = uniforms(f"uniform:{c.get('draws', name)}:{step}", B * blocks * 2).view(B, blocks, 2)
        out['labels'].append(y.tolist())
        out['uniform'].append(f32_list(u))
        logits_a = agent(x).view(B, -1, 2)
        policy = gumbel_softmax(logits_a, c['tau'], u.to(dtype))[:, :, 1]
        with relu_margin() as margin:
            logits = model(x, policy)
        if step == 0 and dtype == torch.float64 and not winograd_noise and isinstance(model, SpotTuneRebuffi):
            # In the 1/8-width ResNet-26 a batch-norm channel holds 64 to 1024 values, so one
            # ReLU that rounding flips moves gradients by up to 1e-2: no ReLU input may lie
            # within 5 times the Winograd kernel's rounding of zero.
            assert margin[0] > 5 * WINOGRAD_ROUNDING, f'{name}: a ReLU input at {margin[0]:.1e} of its RMS from 0, within float32 rounding; take other draws'
        loss = F.cross_entropy(logits, y)
        if c.get('globalK'):
            loss = loss + global_k(policy, **c['globalK'])
        net_opt.zero_grad()
        agent_opt.zero_grad()
        loss.backward()
        out['steps'].append({'agentLogits': raw(logits_a), 'decisions': raw(policy), 'logits': raw(logits), 'loss': raw(loss)})
        if step == 0:
            out['grads'] = {n: None if p.grad is None else raw(p.grad) for n, p in params()}
        net_opt.step()
        agent_opt.step()
    out['displacement'] = {n: raw(p - start[n]) for n, p in params()}
    out['buffers'] = {n: raw(b) for n, b in buffers() if not n.endswith('num_batches_tracked')}
    model.eval()
    agent.eval()
    with torch.no_grad():
        x = image('input:eval', shape).to(dtype=dtype, memory_format=fmt)
        logits_a = agent(x).view(B, -1, 2)
        u = uniforms(f'uniform:{name}:eval', B * blocks * 2).view(B, blocks, 2)
        out['eval'] = {'uniform': f32_list(u)}
        for routing, policy in (('argmax', logits_a.argmax(-1).to(dtype)), ('sample', gumbel_softmax(logits_a, c['tau'], u.to(dtype))[:, :, 1])):
            out['eval'][routing] = {'decisions': raw(policy), 'logits': raw(model(x, policy))}
    return out


@contextlib.contextmanager
def relu_margin():
    """[the smallest non-zero |input| of F.relu relative to the RMS of its tensor] within the block."""
    relu, margin = F.relu, [math.inf]

    def measured(x, inplace=False):
        a = x.detach().abs()
        margin[0] = min(margin[0], float(a[a > 0].min() / a.square().mean().sqrt()))
        return relu(x, inplace=inplace)
    F.relu = measured
    try:
        yield margin
    finally:
        F.relu = relu


# The Winograd kernel's float32 rounding, relative to the RMS of a convolution's output
# (test/torch/winograd.test.ts's shapes: 0.9–1.8e-6; direct convolution 1.5–4e-7).
WINOGRAD_ROUNDING = 2e-6


def float32_spread(name, make):
    """The case in float64 (the reference) and how far float32 can honestly land from it: the
    largest relative difference of PyTorch's own float32 runs (contiguous and channels-last;
    'spread'), and of those and a float64 run with Winograd-sized rounding noise on its 3×3
    convolutions ('spreadWinograd'). The tests allow a few times these on top of their floors:
    where a case is badly conditioned (ResNet-50's early layers), float32 is."""
    ref = run_case(name, make)
    f32 = [run_case(name, make, torch.float32, cl) for cl in (False, True)]
    wino = run_case(name, make, winograd_noise=WINOGRAD_ROUNDING)
    same = lambda a, b: torch.equal(a['decisions'], b['decisions'])
    later = lambda r: r['steps'][1:] + [r['eval'][k] for k in ('argmax', 'sample')]
    assert all(same(ref['steps'][0], o['steps'][0]) for o in f32 + [wino]), f'{name}: the first decisions depend on rounding'
    # Three SGD steps carry the first step's rounding into the next decisions: where float32
    # itself changes one (ResNet-50), the trajectory is not defined in float32 and is left out.
    trajectory = all(same(a, b) for o in f32 for a, b in zip(later(ref), later(o)))

    def rel(a, b):
        n = float(b.norm())
        return float((a - b).norm()) / n if n > 0 else float((a - b).norm())

    def spread(get):
        e = get(ref)
        s = max(rel(get(o), e) for o in f32)
        return {'spread': short(s), 'spreadWinograd': short(max(s, rel(get(wino), e)))}

    out = {k: ref[k] for k in ('case', 'blocks', 'labels', 'uniform')}
    out['trajectory'] = trajectory
    out['steps'] = [{'agentLogits': f32_list(st['agentLogits']), 'decisions': f32_list(st['decisions']), 'logits': f32_list(st['logits']), 'loss': st['loss'].item(),
                     'spread': {k: spread(lambda r, i=i, k=k: r['steps'][i][k]) for k in ('logits', 'loss')}} for i, st in enumerate(ref['steps'])]
    out['grads'] = {n: None if g is None else {**summary(g), **spread(lambda r, n=n: r['grads'][n])} for n, g in ref['grads'].items()}
    if not trajectory:
        out['steps'] = out['steps'][:1]
        return out
    for part in ('displacement', 'buffers'):
        out[part] = {n: {**summary(t), **spread(lambda r, n=n, part=part: r[part][n])} for n, t in ref[part].items()}
    out['eval'] = {'uniform': ref['eval']['uniform']}
    for routing in ('argmax', 'sample'):
        e = ref['eval'][routing]
        out['eval'][routing] = {'decisions': f32_list(e['decisions']), 'logits': f32_list(e['logits']), 'spread': spread(lambda r, routing=routing: r['eval'][routing]['logits'])}
    return out


def init_net(model):
    """The frozen block l holds the values of the backbone's block l (named as in the backbone,
    prefix 'net:'); the fine-tuned blocks other values (prefix 'tuned:'), as after some training:
    with equal branches the policy would get no gradient at all."""
    order = backbone_block_names(model)
    names = model.our_names()
    with torch.no_grad():
        for k, t in model.state_dict().items():
            ours = names[k]
            key = 'net:'
            if ours.startswith('frozen.'):
                _, l, rest = ours.split('.', 2)
                ours = f'{order[int(l)]}.{rest}'
            else:
                ours = ours[len('net.'):]
                if ours.startswith('layer'):
                    key = 'tuned:'
            t.copy_(named_value(key + ours, ours, tuple(t.shape)))


def backbone_block_names(model):
    if isinstance(model, SpotTuneRebuffi):
        return [f'layer{s + 1}.{b}' for s in range(3) for b in range(model.n)]
    counts = [len(l) for l in (model.net.layer1, model.net.layer2, model.net.layer3, model.net.layer4)]
    return [f'layer{s + 1}.{b}' for s, n in enumerate(counts) for b in range(n)]


# ---------- the authors' models.py (Rebuffi ResNet-26, plain mode, one task) ----------

def authors_models_module(factor):
    """A module named `models` with the classes of the authors' models.py (config_task's mode
    other than the adapters, task 0, its `factor`), so pickles name models.ResNet etc."""
    mod = types.ModuleType('models')

    class conv_task(nn.Module):
        def __init__(self, in_planes, planes, stride=1, nb_tasks=1, is_proj=1, second=0):
            super().__init__()
            self.is_proj, self.second = is_proj, second
            self.conv = conv3x3(in_planes, planes, stride)
            self.bns = nn.ModuleList([nn.BatchNorm2d(planes) for _ in range(nb_tasks)])

        def forward(self, x):
            return self.bns[0](self.conv(x))

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1, shortcut=0, nb_tasks=1):
            super().__init__()
            self.conv1 = conv_task(in_planes, planes, stride, nb_tasks)
            self.conv2 = nn.Sequential(nn.ReLU(True), conv_task(planes, planes, 1, nb_tasks, second=1))
            self.shortcut = shortcut
            if shortcut == 1:
                self.avgpool = nn.AvgPool2d(2)

        def forward(self, x):
            y = self.conv2(self.conv1(x))
            r = x
            if self.shortcut == 1:
                r = self.avgpool(x)
                r = torch.cat((r, r * 0), 1)
            return F.relu(y + r)

    class ResNet(nn.Module):
        def __init__(self, block, nblocks, num_classes=(10,)):
            super().__init__()
            nb_tasks = len(num_classes)
            self.in_planes = int(32 * factor)
            self.pre_layers_conv = conv_task(3, int(32 * factor), 1, nb_tasks)
            self.layer1 = self._make_layer(block, int(64 * factor), nblocks[0], 2, nb_tasks)
            self.layer2 = self._make_layer(block, int(128 * factor), nblocks[1], 2, nb_tasks)
            self.layer3 = self._make_layer(block, int(256 * factor), nblocks[2], 2, nb_tasks)
            self.end_bns = nn.ModuleList([nn.Sequential(nn.BatchNorm2d(int(256 * factor)), nn.ReLU(True)) for _ in range(nb_tasks)])
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.linears = nn.ModuleList([nn.Linear(int(256 * factor), c) for c in num_classes])

        def _make_layer(self, block, planes, nblocks, stride, nb_tasks):
            shortcut = 1 if stride != 1 or self.in_planes != planes else 0
            layers = [block(self.in_planes, planes, stride, shortcut, nb_tasks=nb_tasks)]
            self.in_planes = planes
            layers += [block(planes, planes, nb_tasks=nb_tasks) for _ in range(1, nblocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.layer3(self.layer2(self.layer1(self.pre_layers_conv(x))))
            x = self.avgpool(self.end_bns[0](x)).view(x.size(0), -1)
            return self.linears[0](x)

    for cls in (conv_task, BasicBlock, ResNet):
        cls.__module__, cls.__qualname__ = 'models', cls.__name__
        setattr(mod, cls.__name__, cls)
    sys.modules['models'] = mod
    return mod


def rebuffi_order(n):
    """Our names of a ResNet-26-family network's convolutions and batch norms in module order."""
    convs, bns = ['conv1'], ['bn1']
    for s in range(1, 4):
        for b in range(n):
            convs += [f'layer{s}.{b}.conv1', f'layer{s}.{b}.conv2']
            bns += [f'layer{s}.{b}.bn1', f'layer{s}.{b}.bn2']
    return convs, bns + ['bn2']


def fill_by_module_order(net, prefix, n):
    """As load_weights_to_flatresnet: the i-th Conv2d / BatchNorm2d / Linear gets the values of
    our i-th one (named with `prefix`)."""
    convs, bns = rebuffi_order(n)
    kinds = {nn.Conv2d: iter(convs), nn.BatchNorm2d: iter(bns), nn.Linear: iter(['fc'])}
    with torch.no_grad():
        for m in net.modules():
            if type(m) in kinds:
                ours = next(kinds[type(m)])
                for k, t in m.state_dict().items():
                    t.copy_(named_value(f'{prefix}{ours}.{k}', f'{ours}.{k}', tuple(t.shape)))


def arch_fixture(out):
    """The authors' ResNet-26 (models.py) and agent, weights by module order: logits in train and eval mode."""
    factor, n, classes = 0.125, 4, 7
    models = authors_models_module(factor)
    net = models.ResNet(models.BasicBlock, [n, n, n], num_classes=[classes])
    fill_by_module_order(net, 'arch:', n)
    agent = AgentRebuffi(int(32 * factor), 2 * 3 * n)
    fill(agent, 'arch-agent:', {k: v[len('agent.'):] for k, v in agent.our_names().items()})
    x = image('arch:input', [3, 3, 24, 24])
    res = {'width': factor, 'classes': classes, 'input': [3, 3, 24, 24]}
    for mode in ('train', 'eval'):
        net.train(mode == 'train')
        agent.train(mode == 'train')
        with torch.no_grad():
            res[mode] = {'logits': f32_list(net(x)), 'agentLogits': f32_list(agent(x))}
    with open(os.path.join(out, 'rebuffi_arch.json'), 'w') as f:
        json.dump(res, f)


# ---------- the authors' checkpoint format ----------

class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2 with PyTorch 0.4: str as SHORT_BINSTRING/BINSTRING (Python 2's str, bytes),
    Parameter as Parameter(data, requires_grad)."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        b = obj.encode('utf-8')  # a Python 2 str holds the bytes of the source file
        self.write((pickle.SHORT_BINSTRING + bytes([len(b)]) if len(b) < 256 else pickle.BINSTRING + struct.pack('<i', len(b))) + b)
        self.memoize(obj)

    dispatch[str] = save_py2_str

    def reducer_override(self, obj):
        if isinstance(obj, nn.Parameter):
            return (nn.Parameter, (obj.data, obj.requires_grad))
        return NotImplemented


class Py3OldPickler(pickle.Pickler):
    """PyTorch 0.4's pickling of parameters under Python 3."""

    def reducer_override(self, obj):
        if isinstance(obj, nn.Parameter):
            return (nn.Parameter, (obj.data, obj.requires_grad))
        return NotImplemented


def pickle_module(pickler):
    mod = types.ModuleType(f'pickle_as_{pickler.__name__}')
    mod.Pickler = pickler
    mod.dump = lambda obj, f, protocol=2: pickler(f, protocol).dump(obj)
    return mod


def authors_checkpoint(path, pickler, num_classes):
    """torch.save({'net': models.ResNet}) in the legacy format, every module with a `_backend` as PyTorch 0.4's."""
    import torch.nn.backends.thnn as thnn

    class Backend:
        def __reduce__(self):
            return (thnn._get_thnn_function_backend, ())

    factor, n = 1 / 32, 4
    models = authors_models_module(factor)
    net = models.ResNet(models.BasicBlock, [n, n, n], num_classes=[num_classes])
    fill_by_module_order(net, 't7:', n)
    for m in net.modules():
        m.__dict__['_backend'] = Backend()
        m.__dict__['_buffers'].pop('num_batches_tracked', None)  # PyTorch 0.4.0 had no such buffer
    warnings.filterwarnings('ignore', "Couldn't retrieve source code")
    torch.save({'net': net}, path, pickle_module=pickle_module(pickler), pickle_protocol=2, _use_new_zipfile_serialization=False)
    # PyTorch itself reads it back (the classes are importable here) with the same weights
    back = torch.load(path)['net']
    for (k, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), k


# ---------- main ----------

CASE = dict(lr=0.1, lrAgent=0.01, momentum=0.9, weightDecay=5e-4, weightDecayAgent=1e-3)


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'spottune')
    os.makedirs(out, exist_ok=True)
    cases = {
        # Rebuffi's ResNet-26 at 1/8 width and its agent, τ = 5 as in the authors' code
        'resnet26': lambda: (SpotTuneRebuffi(4, 4, 5), AgentRebuffi(4, 24), 12, dict(CASE, arch='resnet26', width=0.125, agentWidth=0.125, classes=5, batch=4, size=16, tau=5)),
        # τ = 2.5 with the Global-k loss (k and the λs away from their defaults)
        'resnet26_globalk': lambda: (SpotTuneRebuffi(4, 4, 5), AgentRebuffi(4, 24), 12, dict(CASE, arch='resnet26', width=0.125, agentWidth=0.125, classes=5, batch=4, size=16, tau=2.5, globalK=dict(k=5, lambda1=0.3, lambda2=0.05))),
        # τ = 0.5: a sharp soft sample ('uniform:resnet26_tau05' put a ReLU input within rounding of 0)
        'resnet26_tau05': lambda: (SpotTuneRebuffi(4, 4, 5), AgentRebuffi(4, 24), 12, dict(CASE, arch='resnet26', width=0.125, agentWidth=0.125, classes=5, batch=4, size=16, tau=0.5, draws='resnet26_tau05b')),
        # torchvision ResNets at lr 0.01 (at 0.1 these hashed weights diverge within three steps)
        'resnet18': lambda: (SpotTuneTorchvision('resnet18', 5), AgentRebuffi(4, 16), 8, dict(CASE, lr=0.01, lrAgent=0.001, arch='resnet18', agentWidth=0.125, classes=5, batch=4, size=64, tau=5)),
        'resnet50': lambda: (SpotTuneTorchvision('resnet50', 5), AgentRebuffi(4, 32), 16, dict(CASE, lr=0.01, lrAgent=0.001, arch='resnet50', agentWidth=0.125, classes=5, batch=4, size=64, tau=5)),
    }
    only = os.environ.get('ONLY')  # a comma-separated subset of the cases, when regenerating one
    for name, make in cases.items():
        if only and name not in only.split(','):
            continue
        res = float32_spread(name, make)
        with open(os.path.join(out, f'{name}.json'), 'w') as f:
            json.dump(res, f)
        print(name, 'loss', [s['loss'] for s in res['steps']], 'trajectory', res['trajectory'])
    arch_fixture(out)
    authors_checkpoint(os.path.join(out, 'resnet26_pretrained.t7'), Py3OldPickler, 1000)
    authors_checkpoint(os.path.join(out, 'resnet26_py2.t7'), Py2Pickler, 10)


if __name__ == '__main__':
    main(sys.argv)
