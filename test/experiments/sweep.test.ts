// A sweep killed mid-way (SIGKILL to the real sweep process, whose workers then stop) and run
// again finishes every run exactly once, with the results of an uninterrupted sweep; and bad
// sweep configurations are refused with the field named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSweepConfig, planSweep } from '../../src/experiments/sweep_config.js';
import { sweepFromFlags } from '../../src/experiments/commands.js';
import { livingWorker } from '../../src/experiments/run_files.js';
import { METHODS } from '../../src/spottune/index.js';

const dir = mkdtempSync(join(tmpdir(), 'spottune-sweep-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const cli = ['--import', 'tsx', 'src/cli/main.ts'];

// 2 methods × 1 dataset × 2 seeds, from a source model pre-trained as a step of the sweep.
const tiny = {
  sources: { src: { arch: 'resnet26', width: 0.25, data: 'digits', perClass: 10, epochs: 1, batchSize: 16, lr: 0.05 } },
  base: { arch: 'resnet26', width: 0.25, weights: 'source:src', perClass: 10, epochs: 3, batchSize: 16, lr: 0.05, evalEvery: 3, agentWidth: 0.25 },
  methods: ['finetune', 'spottune'],
  datasets: ['digits'],
  seeds: [0, 1],
};
const configFile = join(dir, 'tiny.json');
writeFileSync(configFile, JSON.stringify(tiny));
const runDirs = (out: string) => tiny.methods.flatMap((m) => tiny.seeds.map((s) => join(out, m, 'digits', `seed${s}`)));
const sweepArgs = (out: string) => [...cli, 'sweep', '--config', configFile, '--output', out, '--jobs', '2', '--threads', '1'];
const read = (p: string) => readFileSync(p, 'utf8');
const epochsOf = (run: string) => read(join(run, 'metrics.jsonl')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l).epoch);

test('a sweep killed with SIGKILL and run again finishes each run exactly once, as an uninterrupted sweep does', async () => {
  const a = join(dir, 'a');
  const whole = spawnSync(process.execPath, sweepArgs(a), { encoding: 'utf8' });
  assert.equal(whole.status, 0, whole.stderr);
  assert.match(whole.stdout, /\| spottune \|/, 'the sweep ends with the comparison table');

  const b = join(dir, 'b');
  const sweep = spawn(process.execPath, sweepArgs(b), { stdio: 'ignore' });
  const exited = new Promise((resolve) => sweep.on('exit', resolve));
  // Mid-way: once some run has a checkpoint (the source model is done by then).
  while (!runDirs(b).some((r) => existsSync(join(r, 'last.pth'))) && sweep.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  sweep.kill('SIGKILL');
  await exited;
  // The workers notice that their sweep is gone and stop by themselves: at most the epoch under
  // way when the sweep died still ends (an orphan that trained on would finish its run).
  const epochsNow = (r: string) => (existsSync(join(r, 'metrics.jsonl')) ? epochsOf(r).length : 0);
  const atKill = new Map(runDirs(b).filter((r) => !existsSync(join(r, 'done'))).map((r) => [r, epochsNow(r)]));
  const t0 = Date.now();
  while (runDirs(b).some((r) => livingWorker(r) !== undefined) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(runDirs(b).filter((r) => livingWorker(r) !== undefined), [], 'no worker outlives its sweep');
  for (const [r, n] of atKill) assert.ok(epochsNow(r) <= n + 1, `${r}: ${n} epochs when the sweep was killed, ${epochsNow(r)} after its worker stopped`);
  const doneBefore = runDirs(b).filter((r) => existsSync(join(r, 'done')));
  assert.ok(doneBefore.length < 4, 'the kill came before the sweep finished');
  const markers = new Map(doneBefore.map((r) => [r, read(join(r, 'done'))]));
  const sourceDone = read(join(b, 'sources', 'src', 'done'));

  const again = spawnSync(process.execPath, sweepArgs(b), { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`${1 + doneBefore.length} finished before, ${4 - doneBefore.length} to do`));
  assert.equal(read(join(b, 'sources', 'src', 'done')), sourceDone, 'the source model was trained once');
  assert.deepEqual(epochsOf(join(b, 'sources', 'src')), [0]);
  for (const [r, marker] of markers) assert.equal(read(join(r, 'done')), marker, `${r} was finished before and not run again`);
  for (const [i, r] of runDirs(b).entries()) {
    assert.ok(existsSync(join(r, 'done')), `${r} has its done marker`);
    assert.deepEqual(epochsOf(r), [0, 1, 2], `${r}: each epoch once in metrics.jsonl`);
    const ra = JSON.parse(read(join(runDirs(a)[i], 'result.json')));
    const rb = JSON.parse(read(join(r, 'result.json')));
    assert.equal(rb.testAcc, ra.testAcc, `${r}: same accuracy as the uninterrupted sweep`);
    assert.deepEqual(rb.blockFreq, ra.blockFreq);
    assert.ok(existsSync(join(r, 'examples.json')));
  }
  assert.deepEqual(read(join(b, 'sources', 'src', 'weights.safetensors')), read(join(a, 'sources', 'src', 'weights.safetensors')));

  const third = spawnSync(process.execPath, sweepArgs(b), { encoding: 'utf8' });
  assert.equal(third.status, 0, third.stderr);
  assert.match(third.stderr, /5 finished before, 0 to do/);
});

test('a changed configuration is refused for a folder that holds runs of another', () => {
  const changed = join(dir, 'changed.json');
  writeFileSync(changed, JSON.stringify({ ...tiny, base: { ...tiny.base, lr: 0.01 } }));
  const r = spawnSync(process.execPath, [...cli, 'sweep', '--config', changed, '--output', join(dir, 'a')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /finetune\/digits\/seed0\/config\.json holds another configuration/);
  // Where the runs compute is not their configuration: the same sweep with other --workers goes on (here: nothing left to do).
  const again = spawnSync(process.execPath, [...cli, 'sweep', '--config', configFile, '--workers', '2', '--output', join(dir, 'a')], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /0 to do/);
  for (const run of runDirs(join(dir, 'a'))) assert.equal(JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).workers, 2, run);
});

test('bad sweep configurations name the field', () => {
  const plan = (raw: unknown) => planSweep(parseSweepConfig(raw, 'x.json'), '/tmp/out', { where: 'x.json' });
  const ok = { methods: ['finetune'], datasets: ['digits'], seeds: 2, base: { weights: '/w.safetensors' } };
  assert.equal(plan(ok).runs.length, 2);
  assert.deepEqual(plan(ok).runs.map((r) => r.dir), ['/tmp/out/finetune/digits/seed0', '/tmp/out/finetune/digits/seed1']);
  assert.throws(() => plan({ ...ok, method: ['finetune'] }), /x\.json: field "method": expected one of sources, base, methods/);
  assert.throws(() => plan({ ...ok, methods: ['fine-tune'] }), /field "methods\[0\]": expected one of scratch, .*got "fine-tune"/);
  assert.throws(() => plan({ ...ok, seeds: [0, 0] }), /field "seeds"/);
  assert.throws(() => plan({ ...ok, datasets: [] }), /field "datasets": expected a non-empty array/);
  assert.throws(() => plan({ ...ok, base: { lrr: 1 } }), /field "base\.lrr": expected a training setting/);
  assert.throws(() => plan({ ...ok, base: { taux: 1 } }), /field "base\.taux"/);
  assert.throws(() => plan({ ...ok, perMethod: { finetune: { tau: 2 } } }), /field "perMethod\.finetune\.tau": expected a field of a finetune run/);
  assert.throws(() => plan({ ...ok, perMethod: { spottune: {} } }), /field "perMethod\.spottune": expected a method of this sweep/);
  assert.throws(() => plan({ ...ok, perMethod: { finetune: { lr: -1 } } }), /x\.json: field "perMethod\.finetune\.lr": expected a non-negative number, got -1/);
  assert.throws(() => plan({ ...ok, perDataset: { digits: { epochs: 0 } } }), /field "perDataset\.digits\.epochs": expected a positive integer/);
  assert.throws(() => plan({ ...ok, base: { weights: 'source:nope' } }), /field "base\.weights": expected a file, or source:<name>/);
  assert.throws(() => plan({ ...ok, sources: { s: { data: 'digits' } } }), /field "sources\.s\.arch"/);
  const withSource = plan({ ...ok, sources: { s: { arch: 'resnet26', data: 'digits' } }, base: { weights: 'source:s' } });
  assert.equal(withSource.runs[0].config.weights, '/tmp/out/sources/s/weights.safetensors');
  assert.equal(withSource.sources[0].config.method, 'scratch');
  const unused = plan({ ...ok, sources: { s: { arch: 'resnet26', data: 'digits' }, deep: { arch: 'resnet38', data: 'digits' } }, base: { weights: 'source:s' } });
  assert.deepEqual(unused.sources.map((s) => s.name), ['s'], 'a source no run starts from is not trained');
});

test('flags make the same sweep as a file, and override it', () => {
  const f = sweepFromFlags({ methods: ['finetune', 'l2sp'], datasets: ['glyphs'], seeds: [3], base: { epochs: 2, weights: '/w.safetensors' }, output: '/tmp/o' });
  assert.deepEqual(f.cfg.methods, ['finetune', 'l2sp']);
  assert.deepEqual(f.cfg.seeds, [3]);
  assert.equal(f.cfg.base.epochs, 2);
  const g = sweepFromFlags({ config: configFile, seeds: [7], base: { epochs: 1 } });
  assert.deepEqual(g.cfg.seeds, [7]);
  assert.equal(g.cfg.base.epochs, 1);
  assert.equal(g.cfg.base.weights, 'source:src', 'file settings that flags do not give stay');
  assert.equal(g.output, join('runs', 'tiny'));
  assert.throws(() => sweepFromFlags({ methods: ['finetune'], base: {} }), /--methods and --datasets/);
  const narrowed = sweepFromFlags({ config: 'experiments/small.json', methods: ['spottune', 'finetune'], seeds: [0], base: {} });
  assert.deepEqual(Object.keys(narrowed.cfg.perMethod), [], 'settings of methods left out are dropped');
  assert.equal(planSweep(narrowed.cfg, '/tmp/n').sources.length, 1, 'finetune-deeper left out: no ResNet-38 source');
});

test('experiments/small.json plans every method on both datasets with 5 seeds, from two source models', () => {
  const cfg = parseSweepConfig(JSON.parse(read('experiments/small.json')), 'experiments/small.json');
  const { sources, runs } = planSweep(cfg, '/tmp/small');
  assert.deepEqual(sources.map((s) => [s.name, s.config.arch, s.config.data]), [['r26', 'resnet26', 'fashion-mnist'], ['r38', 'resnet38', 'fashion-mnist']]);
  assert.deepEqual(cfg.methods, [...METHODS]);
  assert.equal(runs.length, METHODS.length * 2 * 5);
  const deeper = runs.find((r) => r.config.method === 'finetune-deeper')!;
  assert.equal(deeper.config.deeperWeights, '/tmp/small/sources/r38/weights.safetensors');
  assert.ok(runs.every((r) => r.config.weights === '/tmp/small/sources/r26/weights.safetensors' && r.config.perClass === 10));
});

test('variants run their methods again with their settings, in <variant>/<method>/<dataset>/seed<k>', () => {
  const raw = {
    methods: ['finetune', 'spottune'], datasets: ['digits'], seeds: 1, base: { weights: '/w.safetensors', tau: 5 },
    variants: { bias2: { methods: ['spottune'], settings: { agentBias: 2 } }, ft: { methods: ['finetune'], settings: { lr: 0.2 } } },
  };
  const { runs } = planSweep(parseSweepConfig(raw, 'x.json'), '/tmp/v');
  assert.deepEqual(runs.map((r) => r.dir), ['/tmp/v/finetune/digits/seed0', '/tmp/v/spottune/digits/seed0', '/tmp/v/bias2/spottune/digits/seed0', '/tmp/v/ft/finetune/digits/seed0']);
  assert.equal(runs[2].config.agentBias, 2);
  assert.equal(runs[2].config.tau, 5, 'the base applies to the variant');
  assert.equal(runs[0].config.tau, undefined, 'a method option set for the sweep applies only to the methods that take it');
  assert.equal(runs[1].config.agentBias, undefined);
  assert.equal(runs[3].config.lr, 0.2);
  const narrowed = sweepFromFlags({ config: 'experiments/mini-decathlon.json', methods: ['finetune'], variants: ['none'], seeds: [0], base: {} });
  assert.deepEqual(Object.keys(narrowed.cfg.variants), []);
  assert.throws(() => sweepFromFlags({ config: 'experiments/mini-decathlon.json', variants: ['nope'], base: {} }), /--variants nope: not a variant of experiments\/mini-decathlon\.json/);
  assert.throws(() => planSweep(parseSweepConfig({ ...raw, variants: { spottune: { methods: ['spottune'] } } }, 'x.json'), '/tmp/v'), /field "variants\.spottune": expected a folder name .* not a method's name/);
  assert.throws(() => planSweep(parseSweepConfig({ ...raw, variants: { b: { methods: ['spottune'], settings: { agentBias: 'x' } } } }, 'x.json'), '/tmp/v'), /field "variants\.b\.settings\.agentBias": expected a number/);
});

test('experiments/mini-decathlon.json plans ten domains from the glyph source, and the study variants', () => {
  const cfg = parseSweepConfig(JSON.parse(read('experiments/mini-decathlon.json')), 'experiments/mini-decathlon.json');
  const { sources, runs } = planSweep(cfg, '/tmp/md');
  assert.deepEqual(sources.map((s) => [s.name, s.config.data]), [['glyphs', 'glyphs:source']], 'only the source the runs start from');
  assert.equal(cfg.datasets.length, 10);
  const own = runs.filter((r) => r.name.split('/').length === 3);
  assert.equal(own.length, cfg.methods.length * 10 * 3);
  assert.ok(runs.every((r) => r.config.weights === '/tmp/md/sources/glyphs/weights.safetensors' && r.config.perClass === (r.name.startsWith('per-class50/') ? 50 : 10)));
  const bias = runs.find((r) => r.name === 'bias2/spottune/shapes/seed1')!;
  assert.equal(bias.config.agentBias, 2);
  assert.deepEqual([...new Set(runs.filter((r) => r.name.startsWith('epochs60/')).map((r) => r.config.method))], ['finetune', 'spottune']);
});
