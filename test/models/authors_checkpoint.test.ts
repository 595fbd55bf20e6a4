// The SpotTune authors' checkpoint format: torch.save({'net': models.ResNet}) in the legacy format,
// written by scripts/fixtures_spottune.py as PyTorch 0.4 pickled it (also Python 2's str), read
// inertly and mapped onto our ResNet-26 by module order. The values are known by name (the
// oracle's hash), so the mapping is checked bit for bit; a SpotTune run from the file trains and
// its frozen branch keeps the file's convolutions bit for bit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { resnet18, resnet26 } from '../../src/models/index.js';
import { readWeightsFile } from '../../src/models/pretrained.js';
import { writePth } from '../../src/io/pth.js';
import { rawToTensor, writeWeights } from '../../src/io/tensors.js';
import { formatWeightsReport, inspectWeights } from '../../src/cli/inspect_command.js';
import { makeConfig } from '../../src/train/config.js';
import { train } from '../../src/train/engine.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { fixturePath, namedValue } from '../spottune/oracle.js';
import { writeImage } from '../data/util.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-authors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [file, classes] of [['resnet26_pretrained.t7', 1000], ['resnet26_py2.t7', 10]] as const) {
  test(`${file}: the authors' module tree maps onto our ResNet-26 by module order, bit for bit`, () => {
    const read = readWeightsFile(fixturePath(file));
    assert.equal(read.format, 'torch.save legacy (PyTorch < 1.6)');
    assert.equal(read.container, "checkpoint dict → 'net': whole module models.ResNet");
    assert.ok(read.moduleTree!.includes('layer1.0.conv2.1: models.conv_task') && read.moduleTree!.includes('end_bns.0.0: torch.nn.modules.batchnorm.BatchNorm2d'));
    torch.tidy(() => {
      const ours = resnet26({ width: 1 / 32, numClasses: classes }).stateDict();
      assert.deepEqual([...read.stateDict.keys()].sort(), [...ours.keys()].sort());
      for (const [k, raw] of read.stateDict) {
        const expected = k.endsWith('num_batches_tracked') ? torch.zeros([], { dtype: 'int64' }) : namedValue(`t7:${k}`, k, raw.shape);
        assert.deepEqual(rawToTensor(raw).data(), expected.data(), k);
      }
    });
  });
}

test('a module tree that is not a ResNet-26 is refused, naming what it has', () => {
  // the authors' SpotTune model (two branches) is not the pre-trained network
  const path = join(dir, 'not_r26.pth');
  writePth(path, new Map([['epoch', 1]]));
  assert.throws(() => readWeightsFile(path), /not_r26\.pth: a dict without tensors at its top \(keys epoch\)/);
  assert.throws(() => readWeightsFile(fixturePath('rebuffi_arch.json')), /rebuffi_arch\.json: not a torch\.save file/);
});

test('SpotTune from the authors\' .t7 trains; its frozen branch holds the file\'s convolution weights bit for bit', async () => {
  const images = join(dir, 'images');
  for (const split of ['train', 'test']) {
    for (const [c, cls] of ['cat', 'dog'].entries()) {
      for (let i = 0; i < 4; i++) await writeImage(join(images, split, cls, `${i}.png`), 16, 16, 10 * c + i + (split === 'test' ? 100 : 0));
    }
  }
  const out = join(dir, 'run');
  const config = makeConfig({
    method: 'spottune', arch: 'resnet26', width: 1 / 32, data: `imagefolder:${images}`, imageSize: 16,
    weights: fixturePath('resnet26_pretrained.t7'), epochs: 1, batchSize: 4, lr: 0.1, seed: 1,
  });
  const result = await train(config, out);
  assert.equal(result.epochs, 1);
  torch.tidy(() => {
    const model = loadCheckpoint(join(out, 'last.pth')).get('model') as Map<string, torch.Tensor>;
    const file = readWeightsFile(fixturePath('resnet26_pretrained.t7')).stateDict;
    let checked = 0;
    for (const [s, stage] of [1, 2, 3].entries()) {
      for (let b = 0; b < 4; b++) {
        for (const conv of ['conv1', 'conv2']) {
          const frozen = model.get(`frozen.${s * 4 + b}.${conv}.weight`)!;
          assert.deepEqual(frozen.data(), rawToTensor(file.get(`layer${stage}.${b}.${conv}.weight`)!).data(), `frozen.${s * 4 + b}.${conv}`);
          checked++;
        }
      }
    }
    assert.equal(checked, 24);
    // and training did move the fine-tuned copies away from the file
    const tuned = model.get('net.layer3.3.conv2.weight')!;
    assert.notDeepEqual(tuned.data(), rawToTensor(file.get('layer3.3.conv2.weight')!).data());
  });
});

test('spottune inspect-weights: format, where the tensors are, the module tree, shapes, the --arch they fit', () => {
  const r = inspectWeights(fixturePath('resnet26_pretrained.t7'));
  assert.equal(r.fits, '--arch resnet26 --width 0.03125, 3 input channel(s), 1000 classes');
  assert.equal(r.tensors.length, 157);
  assert.deepEqual(r.tensors.find((t) => t.name === 'layer3.3.conv2.weight'), { name: 'layer3.3.conv2.weight', dtype: 'float32', shape: [8, 8, 3, 3] });
  const text = formatWeightsReport(r).split('\n');
  assert.deepEqual(text.slice(1, 3), ['format: torch.save legacy (PyTorch < 1.6)', "holds: checkpoint dict → 'net': whole module models.ResNet"]);
  assert.ok(text.includes('module tree (150 modules):') && text.includes('  layer1.0.conv2.1: models.conv_task'));
  assert.ok(text.includes(`  fc.weight                         float32 [1000, 8]`), 'shapes listed, aligned');
  const path = join(dir, 'r18.safetensors');
  torch.tidy(() => writeWeights(path, resnet18({ numClasses: 10 }).stateDict()));
  assert.equal(inspectWeights(path).fits, '--arch resnet18, 3 input channel(s), 10 classes');
  assert.equal(inspectWeights(path).format, 'safetensors');
});
