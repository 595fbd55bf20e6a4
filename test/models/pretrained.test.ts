// Weights as people have them: DataParallel prefixes, checkpoint dicts, headless backbones, and
// the messages for a file that fits another architecture, other input channels or another width.
// Every file is written by the test (our torch.save writer, read back by the real reader).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { resnet18, resnet26, type Backbone } from '../../src/models/index.js';
import { guessArch, loadPretrained, readWeightsFile } from '../../src/models/pretrained.js';
import { tensorToRaw, writeWeights } from '../../src/io/tensors.js';
import { writePth } from '../../src/io/pth.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-pretrained-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rawOf = (sd: Map<string, Tensor>, rename = (k: string) => k) => new Map([...sd].map(([k, t]) => [rename(k), tensorToRaw(t)]));

/** Loads `file` as a width-0.25 ResNet-26 for 10 classes, collecting the notes. */
function load(file: string, spec: Partial<Parameters<typeof loadPretrained>[1]> = {}): { net: Backbone; notes: string[] } {
  const notes: string[] = [];
  const net = loadPretrained(file, { arch: 'resnet26', width: 0.25, numClasses: 10, inChannels: 3, what: '--weights', log: (l) => notes.push(l), ...spec });
  return { net, notes };
}

function assertBodyEqual(net: Backbone, source: Map<string, Tensor>) {
  for (const [k, t] of net.stateDict()) {
    if (k.startsWith('fc.')) continue;
    assert.equal(t.sub(source.get(k)!.to(t.dtype)).abs().max().item(), 0, k);
  }
}

test('a DataParallel state dict inside a checkpoint dict loads, prefixes stripped, head replaced', () => {
  torch.tidy(() => {
    const source = resnet26({ width: 0.25, numClasses: 1000 });
    const sd = source.stateDict();
    const file = join(dir, 'dp_checkpoint.pth');
    writePth(file, new Map<string, unknown>([['epoch', 3], ['state_dict', rawOf(sd, (k) => `module.${k}`)]]));
    const read = readWeightsFile(file);
    assert.equal(read.container, "checkpoint dict → 'state_dict'");
    assert.equal(read.format, 'torch.save zip');
    const { net, notes } = load(file);
    assert.deepEqual(notes, [
      `${file}: stripped the 'module.' prefix (DataParallel) from ${sd.size} keys`,
      'new head fc: 1000 → 10 classes (the file\'s classifier is not used)',
    ]);
    assertBodyEqual(net, sd);
    assert.equal(net.numClasses, 10);
  });
});

test("{'model': ...} and {'net': ...} checkpoints and a headless backbone (no fc) load", () => {
  torch.tidy(() => {
    const source = resnet26({ width: 0.25 });
    const sd = source.stateDict();
    for (const key of ['model', 'net']) {
      const file = join(dir, `${key}.pth`);
      writePth(file, new Map<string, unknown>([[key, rawOf(sd)], ['optimizer', new Map([['lr', 0.1]])]]));
      assert.equal(readWeightsFile(file).container, `checkpoint dict → '${key}'`);
      assertBodyEqual(load(file).net, sd);
    }
    const headless = join(dir, 'headless.safetensors');
    writeWeights(headless, new Map([...sd].filter(([k]) => !k.startsWith('fc.'))));
    const { net, notes } = load(headless);
    assertBodyEqual(net, sd);
    assert.deepEqual(notes, [`${headless} has no classifier (a headless backbone): new head fc with 10 classes`]);
    assert.equal(net.numClasses, 10);
  });
});

test('a file of another architecture, input channels or width: a few keys, the count, the likely cause', () => {
  torch.tidy(() => {
    const r18 = join(dir, 'r18.safetensors');
    writeWeights(r18, resnet18({ numClasses: 1000 }).stateDict());
    assert.throws(() => load(r18), (e: Error) => {
      assert.match(e.message, /^--weights .*r18\.safetensors does not fit --arch resnet26 --width 0\.25 with 3 input channel\(s\): 184 tensor\(s\) differ \(the file has 120 besides the classifier, the network 155\), e\.g\. conv1\.weight \(expected \[8, 3, 3, 3\], got \[64, 3, 7, 7\]\), bn1\.weight \(expected \[8\], got \[64\]\), bn1\.bias \(expected \[8\], got \[64\]\), …; the file holds a resnet18, 3 input channel\(s\), 1000 classes: use --arch resnet18$/);
      return true;
    });
    const grey = join(dir, 'grey.safetensors');
    writeWeights(grey, resnet26({ width: 0.25, inChannels: 1 }).stateDict());
    assert.throws(() => load(grey), /1 tensor\(s\) differ \(the file has 155 besides the classifier, the network 155\), e\.g\. conv1\.weight \(expected \[8, 3, 3, 3\], got \[8, 1, 3, 3\]\); the file holds a resnet26 --width 0\.25, 1 input channel\(s\), 10 classes, the data has 3: input channels differ$/);
    const wide = join(dir, 'wide.safetensors');
    writeWeights(wide, resnet26({ width: 0.5 }).stateDict());
    assert.throws(() => load(wide), /the file holds a resnet26 --width 0\.5, 3 input channel\(s\), 10 classes: use --width 0\.5$/);
    const other = join(dir, 'other.pth');
    writePth(other, new Map<string, unknown>([['epoch', 1], ['weights', new Map()]]));
    assert.throws(() => load(other), /other\.pth: a dict without tensors at its top \(keys epoch, weights\); expected a state dict or a checkpoint with one of 'state_dict', 'model', 'net'$/);
  });
});

test('guessArch names torchvision and ResNet-26 family layouts', () => {
  torch.tidy(() => {
    assert.deepEqual(guessArch(resnet18({ numClasses: 7 }).stateDict()), { arch: 'resnet18', inChannels: 3, numClasses: 7 });
    assert.deepEqual(guessArch(resnet26({ width: 0.25, inChannels: 1, numClasses: 4 }).stateDict()), { arch: 'resnet26', width: 0.25, inChannels: 1, numClasses: 4 });
    assert.equal(guessArch(new Map([['weight', { shape: [3] }]])), undefined);
  });
});
