// torchvision ResNet-18 and ResNet-50 state_dicts (random init, saved by Debian's PyTorch)
// load strictly and give torchvision's logits, in eval and in train mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { createBackbone } from '../../src/models/index.js';
import { readWeights, rawToTensor } from '../../src/io/tensors.js';
import { loadPth } from '../../src/io/pth.js';
import type { RawTensor } from '../../src/io/raw.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-tv-'));
execFileSync('/usr/bin/python3', ['scripts/fixtures_models.py', dir, 'resnet18', 'resnet50']);
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const maxAbsDiff = (a: torch.Tensor, b: torch.Tensor) => torch.tidy(() => a.sub(b).abs().max().item());

// Float32 differences grow with depth (ResNet-50 in training mode: ~1e-4 with direct
// convolution). Winograd convolutions (the default) sum in another order: a few 1e-4. A wrong
// weight mapping or layer gives differences of order 1.
for (const [arch, winograd, tol] of [['resnet18', false, 1e-4], ['resnet18', true, 1e-4], ['resnet50', false, 3e-4], ['resnet50', true, 6e-4]] as const) {
  test(`${arch}: torchvision weights load strictly and give the same logits (eval and train, ${winograd ? 'Winograd' : 'direct'} convolutions)`, () => {
    torch.useWinograd(winograd);
    try {
      torch.tidy(() => {
        const model = createBackbone(arch, { numClasses: 10 });
        const sd = readWeights(join(dir, `${arch}.pth`));
        assert.deepEqual([...sd.keys()], [...model.stateDict().keys()], 'same keys, same order');
        model.loadStateDict(sd);
        const io = loadPth(join(dir, `${arch}_io.pth`)) as Map<string, RawTensor>;
        const x = rawToTensor(io.get('input')!);
        const evalDiff = maxAbsDiff(torch.noGrad(() => model.eval().forward(x)), rawToTensor(io.get('eval_logits')!));
        const trainDiff = maxAbsDiff(torch.noGrad(() => model.train().forward(x)), rawToTensor(io.get('train_logits')!));
        assert.ok(evalDiff < tol, `eval max abs difference ${evalDiff}`);
        assert.ok(trainDiff < tol, `train max abs difference ${trainDiff}`);
        model.dispose();
      });
    } finally {
      torch.useWinograd(true);
    }
  });
}

test('a state_dict with a missing or mis-shaped key fails with an error listing the keys', () => {
  torch.tidy(() => {
    const model = createBackbone('resnet18', { numClasses: 10 });
    const sd = readWeights(join(dir, 'resnet18.pth'));
    sd.delete('layer2.0.bn1.running_var');
    sd.set('fc.weight', torch.zeros([5, 512]));
    assert.throws(() => model.loadStateDict(sd), (e: Error) => /missing keys: layer2\.0\.bn1\.running_var/.test(e.message) && /fc\.weight \(expected \[10, 512\], got \[5, 512\]\)/.test(e.message));
    const r = model.loadStateDict(sd, { strict: false });
    assert.deepEqual(r.missing, ['layer2.0.bn1.running_var']);
    assert.deepEqual(r.mismatched, ['fc.weight']);
    model.dispose();
  });
});
