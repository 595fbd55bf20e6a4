// `spottune export` as a user runs it: a SpotTune run trained for one epoch by the real CLI
// (from random source weights), exported and verified in onnxruntime by a second process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as torch from '../../src/torch/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';
import { resnet26 } from '../../src/models/index.js';
import { writeWeights } from '../../src/io/tensors.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

test('train a SpotTune run, export it to ONNX, --verify on 100 test images', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spottune-export-'));
  try {
    torch.manualSeed(0);
    const source = resnet26({ numClasses: 10, inChannels: 1, width: 0.25 });
    torch.noGrad(() => {
      for (const bn of source.modules()) if (bn instanceof BatchNorm2d) bn.runningVar!.copy_(torch.rand([bn.numFeatures]).add(0.5));
    });
    writeWeights(join(dir, 'source.safetensors'), source.stateDict());
    source.dispose();
    const run = join(dir, 'run');
    const trained = cli('train', '--method', 'spottune', '--data', 'digits', '--per-class', '5', '--width', '0.25', '--weights', join(dir, 'source.safetensors'),
      '--epochs', '1', '--batch-size', '50', '--lr', '0.05', '--output', run, '--quiet');
    assert.equal(trained.status, 0, trained.stderr);

    const model = join(dir, 'model.onnx');
    const r = cli('export', run, '--format', 'onnx', '--output', model, '--verify', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.routing, 'argmax');
    assert.deepEqual(out.input, ['batch', 1, 28, 28]);
    assert.deepEqual(out.outputs.map((o: { name: string }) => o.name), ['logits', 'decisions']);
    assert.equal(out.verify.images, 100);
    assert.ok(out.verify.maxAbsDiff < 1e-4, `max |Δlogit| ${out.verify.maxAbsDiff}`);
    assert.equal(out.verify.classMismatches, 0);
    assert.equal(out.verify.decisionMismatches, 0);
    const meta = new Map(onnxProto.onnx.ModelProto.decode(readFileSync(model)).metadataProps!.map((p) => [p.key, p.value]));
    assert.deepEqual(JSON.parse(meta.get('classes')!), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.equal(meta.get('method'), 'spottune');

    const human = cli('export', run, '--output', join(dir, 'finetuned.onnx'), '--routing', 'finetuned', '--verify', '20');
    assert.equal(human.status, 0, human.stderr);
    assert.match(human.stdout, /routing finetuned/);
    assert.match(human.stdout, /verified on 20 test images.*same class 20\/20, same decisions 240\/240/);

    const refused = cli('export', run, '--output', join(dir, 'sample.onnx'), '--routing', 'sample');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /routing "sample" draws Gumbel noise/);
    assert.ok(!existsSync(join(dir, 'sample.onnx')), 'nothing written on error');

    const notRun = cli('export', dir, '--output', join(dir, 'x.onnx'));
    assert.equal(notRun.status, 1);
    assert.match(notRun.stderr, /is not a run folder \(no config.json\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
