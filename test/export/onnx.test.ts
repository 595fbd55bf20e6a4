// ONNX export checked in onnxruntime-node against libtorch, on 100 Fashion-MNIST test images:
// SpotTune (policy network, argmax, both branches), its fixed routings, a plain ResNet-26,
// torchvision's ResNet-18 (BasicBlock, downsample, max pool) and ResNet-50 (Bottleneck), all
// with random weights and batch-norm statistics (models.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as torch from '../../src/torch/index.js';
import { createBackbone, resnet18, resnet26, resnet50 } from '../../src/models/index.js';
import { PlainModel, ProgressiveModel, ProgressiveNet, SpotTuneModel, buildMethod, coTuningModel, defaultCoTuningOptions, evalRoutingOf, type EvalRouting, type StrategyContext, type TrainModel } from '../../src/spottune/index.js';
import { exportOnnx } from '../../src/export/model.js';
import { makeConfig } from '../../src/train/config.js';
import { compareWithLibtorch, openSession, type ImageBatch } from '../../src/export/verify.js';
import { images, randomNet, spotTune } from './models.js';

const TOLERANCE = 1e-4;

async function check(model: TrainModel, batches: ImageBatch[], routing?: EvalRouting) {
  const [, c, h, w] = batches[0].shape;
  const exported = exportOnnx(model, { inputShape: [c, h, w], routing });
  const session = await openSession(exported.bytes);
  try {
    const r = await compareWithLibtorch(session, model, batches, { routing: exported.routing });
    assert.equal(r.images, 100);
    assert.ok(r.maxAbsDiff < TOLERANCE, `max |Δlogit| ${r.maxAbsDiff}`);
    assert.equal(r.classMismatches, 0);
    assert.equal(r.decisionMismatches, 0);
    return { ...r, exported, session };
  } finally {
    await session.release();
  }
}

/** Per block, the fraction of images routed to the fine-tuned branch (libtorch). */
function blockFrequencies(model: SpotTuneModel, batches: ImageBatch[]): number[] {
  return torch.tidy(() => torch.cat(batches.map((b) => model.forwardEval(torch.tensor(b.x, { shape: [...b.shape] })).decisions), 0).mean(0).toArray());
}

test('SpotTune (argmax routing): same logits, classes and per-image decisions as libtorch', async () => {
  const batches = await images(1);
  const model = spotTune(batches, 'argmax');
  const freq = blockFrequencies(model, batches);
  assert.ok(freq.every((f) => f > 0.2 && f < 0.8), `images disagree in every block: ${freq}`);
  const r = await check(model, batches, 'argmax');
  console.log(`SpotTune ResNet-26: max |Δlogit| ${r.maxAbsDiff.toExponential(2)} over 100 images`);
  model.dispose();
});

test('SpotTune with a policy input size: the policy sees bilinearly resized images', async () => {
  const batches = await images(1);
  const model = spotTune(batches, 'argmax', 16);
  const freq = blockFrequencies(model, batches);
  assert.ok(freq.some((f) => f > 0 && f < 1), `images disagree somewhere: ${freq}`);
  const r = await check(model, batches, 'argmax');
  const ops = onnxProto.onnx.ModelProto.decode(r.exported.bytes).graph!.node!.map((n) => n.opType);
  assert.ok(ops.includes('Resize'));
  model.dispose();
});

test('SpotTune routings "finetuned" and "frozen": one branch, constant decisions', async () => {
  const batches = await images(1);
  for (const routing of ['finetuned', 'frozen'] as const) {
    const model = spotTune(batches, routing);
    const r = await check(model, batches, routing);
    const graph = onnxProto.onnx.ModelProto.decode(r.exported.bytes).graph!;
    const ops = graph.node!.map((n) => n.opType);
    assert.ok(!ops.includes('ArgMax') && !ops.includes('Where'), 'no policy network in the graph');
    const prefix = routing === 'finetuned' ? 'net.layer' : 'frozen.';
    assert.ok(graph.initializer!.some((t) => t.name!.startsWith(prefix)), `${prefix} weights present`);
    assert.ok(!graph.initializer!.some((t) => t.name!.startsWith(routing === 'finetuned' ? 'frozen.' : 'net.layer')), 'the other branch is left out');
    model.dispose();
  }
});

test('the exported SpotTune graph: opset 13, dynamic batch, policy and both branches, no randomness', async () => {
  const batches = await images(1);
  const model = spotTune(batches, 'argmax');
  const exported = exportOnnx(model, { inputShape: [1, 28, 28], metadata: { classes: '["a"]' } });
  const m = onnxProto.onnx.ModelProto.decode(exported.bytes);
  assert.equal(Number(m.opsetImport[0].version), 13);
  const graph = m.graph!;
  assert.deepEqual(graph.output!.map((o) => o.name), ['logits', 'decisions']);
  assert.equal(graph.input![0].type!.tensorType!.shape!.dim![0].dimParam, 'batch');
  const ops = graph.node!.map((n) => n.opType!);
  assert.equal(ops.filter((o) => o === 'Where').length, 12);
  assert.equal(ops.filter((o) => o === 'ArgMax').length, 1);
  assert.ok(!ops.some((o) => o.startsWith('Random') || o === 'Multinomial'));
  // Convolutions with their batch norm folded: one BatchNormalization left per network (ResNet-26's head).
  assert.equal(ops.filter((o) => o === 'BatchNormalization').length, 2);
  assert.deepEqual(m.metadataProps!.map((p) => [p.key, p.value]).filter(([k]) => k === 'classes' || k === 'routing'), [['classes', '["a"]'], ['routing', 'argmax']]);
  // Any batch size: 1 and 7 images give the rows of the 100-image run.
  const session = await openSession(exported.bytes);
  for (const n of [1, 7]) {
    const r = await compareWithLibtorch(session, model, [{ x: batches[0].x.subarray(0, n * 784), shape: [n, 1, 28, 28] }]);
    assert.equal(r.images, n);
    assert.ok(r.maxAbsDiff < TOLERANCE && r.decisionMismatches === 0);
  }
  await session.release();
  model.dispose();
});

test('plain ResNet-26 (zero-padded pooled shortcut at odd sizes: 7 → 4)', async () => {
  const batches = await images(1);
  torch.manualSeed(4);
  const model = new PlainModel(randomNet(() => resnet26({ numClasses: 10, inChannels: 1, width: 0.25 })), { frozen: [] });
  model.setTraining(false);
  const r = await check(model, batches);
  assert.deepEqual(onnxProto.onnx.ModelProto.decode(r.exported.bytes).graph!.output!.map((o) => o.name), ['logits']);
  console.log(`plain ResNet-26: max |Δlogit| ${r.maxAbsDiff.toExponential(2)}`);
  model.dispose();
});

test('torchvision ResNet-18 and ResNet-50 (BasicBlock, Bottleneck, downsample, max pool)', async () => {
  const batches = await images(3);
  for (const [name, make] of [['resnet18', resnet18], ['resnet50', resnet50]] as const) {
    torch.manualSeed(5);
    const model = new PlainModel(randomNet(() => make({ numClasses: 10 })), { frozen: [] });
    model.setTraining(false);
    const r = await check(model, batches);
    console.log(`${name}: max |Δlogit| ${r.maxAbsDiff.toExponential(2)}`);
    model.dispose();
  }
});

test('Progressive Neural Networks: both columns and the laterals, on ResNet-26 (grey) and torchvision ResNet-18 (RGB)', async () => {
  for (const [channels, make] of [[1, () => resnet26({ numClasses: 10, inChannels: 1, width: 0.25 })], [3, () => resnet18({ numClasses: 10 })]] as const) {
    const batches = await images(channels);
    torch.manualSeed(7);
    const model = new ProgressiveModel(new ProgressiveNet(randomNet(make), randomNet(make)));
    model.setTraining(false);
    const r = await check(model, batches);
    const graph = onnxProto.onnx.ModelProto.decode(r.exported.bytes).graph!;
    const names = graph.initializer!.map((t) => t.name!);
    for (const prefix of ['frozen.', 'column.', 'laterals.']) assert.ok(names.some((n) => n.startsWith(prefix)), `${prefix} weights present`);
    assert.equal(names.filter((n) => /^laterals\.\d+\.weight$/.test(n)).length, model.numBlocks + 1);
    console.log(`progressive (${channels === 1 ? 'ResNet-26' : 'ResNet-18'}): max |Δlogit| ${r.maxAbsDiff.toExponential(2)}`);
    model.dispose();
  }
});

test('Co-Tuning exports its target network (the source classifier is left out)', async () => {
  const batches = await images(1);
  torch.manualSeed(8);
  const small = (n: number) => randomNet(() => resnet26({ numClasses: n, inChannels: 1, width: 0.25 }));
  const model = coTuningModel(small(10), small(6), defaultCoTuningOptions);
  model.setTraining(false);
  const r = await check(model, batches);
  assert.ok(!onnxProto.onnx.ModelProto.decode(r.exported.bytes).graph!.initializer!.some((t) => t.name!.startsWith('sourceFc')));
  model.dispose();
});

/** What the engine gives a strategy: here a random ResNet-26 as the "pre-trained" network. */
function context(): StrategyContext & { dispose(): void } {
  torch.manualSeed(6);
  const source = randomNet(() => createBackbone('resnet26', { numClasses: 10, inChannels: 1, width: 0.25 }));
  return {
    pretrained: () => {
      const net = createBackbone('resnet26', { numClasses: 10, inChannels: 1, width: 0.25 });
      torch.tidy(() => net.loadStateDict(source.stateDict()));
      return net;
    },
    source: () => { throw new Error('unused'); },
    deeper: () => { throw new Error('unused'); },
    scratch: () => { throw new Error('unused'); },
    numClasses: 10, inChannels: 1, seed: 0,
    dispose: () => source.dispose(),
  };
}

test('random-policy and "sample" routing are refused with the deterministic alternatives named', () => {
  const ctx = context();
  const random = buildMethod('random-policy', ctx);
  assert.throws(() => exportOnnx(random, { inputShape: [1, 28, 28], routing: 'argmax' }), /random-policy.*coin flips.*--routing finetuned/s);
  assert.ok(exportOnnx(random, { inputShape: [1, 28, 28], routing: 'finetuned' }).bytes.length > 0);
  random.dispose();
  const spot = buildMethod('spottune', ctx);
  assert.throws(() => exportOnnx(spot, { inputShape: [1, 28, 28], routing: 'sample' }), /"sample" draws Gumbel noise/);
  spot.dispose();
  ctx.dispose();
});

test('a spottune-finetuned run exports its fine-tuned blocks, as it evaluates', async () => {
  const batches = await images(1);
  const ctx = context();
  const model = buildMethod('spottune-finetuned', ctx) as SpotTuneModel;
  // One rule for the routing at evaluation: the --routing flag, else the run's evalRouting, whose default is the method's.
  const config = (method: string) => makeConfig({ method, arch: 'resnet26', data: 'glyphs' });
  const routing = evalRoutingOf(config('spottune-finetuned'));
  assert.equal(routing, 'finetuned');
  assert.equal(evalRoutingOf(config('spottune')), 'argmax');
  assert.equal(evalRoutingOf(config('spottune-finetuned'), 'frozen'), 'frozen');
  assert.equal(evalRoutingOf(config('finetune')), undefined);
  assert.throws(() => evalRoutingOf(config('finetune'), 'frozen'), /--routing frozen: method finetune trains one network/);
  const exported = exportOnnx(model, { inputShape: [1, 28, 28], routing });
  const session = await openSession(exported.bytes);
  // No routing given: libtorch evaluates the way the run does.
  const r = await compareWithLibtorch(session, model, batches, { limit: 20 });
  assert.ok(r.images === 20 && r.maxAbsDiff < TOLERANCE && r.decisionMismatches === 0 && r.classMismatches === 0);
  await session.release();
  model.dispose();
  ctx.dispose();
});

test('the ONNX checker (full check, strict shape inference) accepts the exported graphs', async () => {
  const batches = await images(1);
  const dir = mkdtempSync(join(tmpdir(), 'spottune-onnx-'));
  try {
    const files: [string, number[][]][] = [];
    const write = (name: string, model: TrainModel, inputShape: [number, number, number], routing?: EvalRouting) => {
      const e = exportOnnx(model, { inputShape, routing });
      writeFileSync(join(dir, name), e.bytes);
      files.push([name, e.outputs.map((o) => o.dims.slice(1) as number[])]);
      model.dispose();
    };
    write('spottune.onnx', spotTune(batches, 'argmax', 16), [1, 28, 28], 'argmax');
    write('finetuned.onnx', spotTune(batches, 'finetuned'), [1, 28, 28], 'finetuned');
    write('resnet50.onnx', new PlainModel(randomNet(() => resnet50({ numClasses: 10 })), { frozen: [] }), [3, 40, 40]);
    write('progressive.onnx', new ProgressiveModel(new ProgressiveNet(randomNet(() => resnet18({ numClasses: 10 })), randomNet(() => resnet18({ numClasses: 10 })))), [3, 40, 40]);
    const script = [
      'import sys, onnx',
      'for f in sys.argv[1:]:',
      '    m = onnx.load(f)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    print([[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.output])',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, ...files.map(([f]) => join(dir, f))], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const inferred = r.stdout.trim().split('\n').map((line) => JSON.parse(line.replace(/'/g, '"')));
    assert.deepEqual(inferred, files.map(([, dims]) => dims.map((d) => ['batch', ...d])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
