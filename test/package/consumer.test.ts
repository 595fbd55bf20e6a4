// spottune as a dependency, as a user gets it: `npm pack` (prepack builds dist/), the tarball
// installed offline into a fresh project (its install step builds the addon against Debian's
// libtorch), every entry point imported from JavaScript and from TypeScript (type-checked with
// this repository's tsc), one training step and the CLI. The reference for the numbers is the
// same script run against this checkout (linked as node_modules/spottune, as `npm link` does):
// the consumer's own build of the addon must give the same bits. Offline: the consumer's
// package-lock.json is this repository's (its non-dev packages, which `npm ci` put in npm's
// cache) plus the tarball, so `npm ci --offline` resolves nothing on the network.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

const ROOT = join(import.meta.dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const dir = mkdtempSync(join(tmpdir(), 'spottune-consumer-'));
after(() => rmSync(dir, { recursive: true, force: true })); // two installs, 500 MB each (onnxruntime)
// A user's shell: none of the npm_* variables of an enclosing `npm test`.
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_'))),
  ONNXRUNTIME_NODE_INSTALL: 'skip', // its optional CUDA download is from outside the npm registry
  SPOTTUNE_THREADS: '1',
};

function run(cmd: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 64 << 20 });
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// Imports every entry point, checks what each exports, takes one SGD step of a ResNet-26 and
// saves its weights (the source model of the CLI's train below).
const STEP_JS = `
import * as main from 'spottune';
import * as torch from 'spottune/torch';
import * as nn from 'spottune/nn';
import * as optim from 'spottune/optim';
import * as models from 'spottune/models';
import * as data from 'spottune/data';
const exports = Object.fromEntries(Object.entries({ main, torch, nn, optim, models, data }).map(([k, m]) => [k, Object.keys(m).sort()]));
torch.manualSeed(0);
const net = models.resnet26({ numClasses: 10, inChannels: 1, width: 0.25 });
const opt = new optim.SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
const x = torch.randn([8, 1, 28, 28]);
const y = torch.tensor(new Int32Array([0, 1, 2, 3, 4, 5, 6, 7])).long();
const loss = torch.crossEntropy(net.forward(x), y);
opt.zeroGrad();
loss.backward();
opt.step();
const after = torch.noGrad(() => torch.crossEntropy(net.forward(x), y));
main.writeWeights('source.safetensors', net.stateDict());
console.log(JSON.stringify({ exports, loss: loss.item(), after: after.item(), sums: net.parameters().map((p) => p.sum().item()) }));
`;

// Types must be real, not any: each @ts-expect-error fails the type check if its line compiles.
const CONSUMER_TS = `
import { METHODS, ARCHS, makeConfig, predict, train, type RunResult, type TrainConfig } from 'spottune';
import * as torch from 'spottune/torch';
import * as nn from 'spottune/nn';
import { SGD } from 'spottune/optim';
import { resnet18 } from 'spottune/models';
import { DataLoader } from 'spottune/data';

const config: TrainConfig = makeConfig({ method: 'finetune', arch: 'resnet26', data: 'digits' });
const run: (c: TrainConfig, output: string) => Promise<RunResult> = train;
export function typeErrors(): void {
  // @ts-expect-error: train takes a configuration, not a string
  void train('finetune', 'runs/x');
  // @ts-expect-error: a shape is a number[]
  torch.zeros('2x3');
}
const lin: nn.Linear = new nn.Linear(3, 2);
const opt = new SGD(lin.parameters(), { lr: 0.5 });
void [run, predict, DataLoader, resnet18, opt];
console.log(JSON.stringify({ methods: METHODS.length, archs: ARCHS.length, epochs: config.epochs, zeros: torch.zeros([2, 3]).sum().item(), params: lin.parameters().length }));
`;

let tarball = '';
const consumer = join(dir, 'consumer');
const reference = join(dir, 'reference');

test('npm pack: dist/ (JavaScript and types), the native sources and build scripts; no tests, fixtures or build outputs', () => {
  const out = ok(run('npm', ['pack', '--pack-destination', dir, '--json'], ROOT), 'npm pack');
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, info.filename);
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/torch/index.d.ts', 'dist/data/index.js', 'native/binding.gyp', 'native/build.mjs', 'native/find-libtorch.mjs', 'native/src/addon.cc', 'web/index.html']) {
    assert.ok(files.includes(f), `the tarball lacks ${f}`);
  }
  const unwanted = files.filter((f) => /^(test|fixtures|src|scripts|bench|native\/build)\//.test(f));
  assert.deepEqual(unwanted, []);
});

/** A fresh project depending on the tarball, with a lock file that npm ci resolves from the cache. */
function project(where: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { spottune: spec } },
    'node_modules/spottune': {
      version: pkg.version, resolved: spec, integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      hasInstallScript: true, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines,
    },
  };
  for (const [k, v] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) if (k.startsWith('node_modules/') && !v.dev) packages[k] = v;
  mkdirSync(where);
  // allowScripts: npm 12 runs a dependency's install script only when the project allows it.
  writeFileSync(join(where, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { spottune: spec }, allowScripts: { spottune: true } }, null, 2));
  writeFileSync(join(where, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }, null, 2));
}

test('installed offline into a fresh project: the install step builds the addon', () => {
  project(consumer);
  const t0 = performance.now();
  ok(run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], consumer), 'npm ci --offline');
  console.log(`npm ci with the native build: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.ok(existsSync(join(consumer, 'node_modules/spottune/native/build/Release/spottune_native.node')), 'the addon was not built');
  assert.equal(existsSync(join(consumer, 'node_modules/spottune/native/build/not-built.txt')), false);

  // The reference: this checkout as node_modules/spottune.
  mkdirSync(join(reference, 'node_modules'), { recursive: true });
  writeFileSync(join(reference, 'package.json'), JSON.stringify({ name: 'reference', private: true, type: 'module' }));
  symlinkSync(ROOT, join(reference, 'node_modules', 'spottune'));
});

test('JavaScript: every entry point imports; one training step gives the bits of this checkout', () => {
  const outputs = [consumer, reference].map((where) => {
    writeFileSync(join(where, 'step.mjs'), STEP_JS);
    return JSON.parse(ok(run(process.execPath, ['step.mjs'], where), `node step.mjs in ${where}`));
  });
  const [got, want] = outputs;
  assert.deepEqual(got, want);
  for (const name of ['train', 'evaluate', 'predict', 'loadRun', 'makeConfig', 'METHODS', 'ARCHS', 'createBackbone', 'openTask']) assert.ok(got.exports.main.includes(name), name);
  assert.ok(got.after < got.loss, `one step on the batch lowers its loss: ${got.loss} -> ${got.after}`);
});

test('TypeScript: every entry point type-checks (types are not any) and runs', () => {
  writeFileSync(join(consumer, 'index.ts'), CONSUMER_TS);
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
    files: ['index.ts'],
  }));
  ok(run(process.execPath, [TSC, '-p', '.'], consumer), 'tsc');
  writeFileSync(join(reference, 'index.js'), readFileSync(join(consumer, 'out', 'index.js')));
  const [got, want] = [join(consumer, 'out', 'index.js'), join(reference, 'index.js')].map((f) => JSON.parse(ok(run(process.execPath, [f], dirname(f)), `node ${f}`)));
  assert.deepEqual(got, want);
  assert.equal(got.zeros, 0);
  assert.equal(got.params, 2);
});

test('the CLI: npx spottune --help, methods, a 1-epoch train, eval and predict equal to this checkout', async () => {
  const npx = (args: string[]) => run('npx', ['--offline', 'spottune', ...args], consumer);
  assert.match(ok(npx(['--help']), 'spottune --help'), /Usage: spottune/);
  const ref = (args: string[]) => run(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], reference);
  assert.equal(ok(npx(['methods']), 'spottune methods'), ok(ref(['methods']), 'reference methods'));
  const args = ['train', '--method', 'spottune', '--weights', 'source.safetensors', '--data', 'digits', '--per-class', '2', '--arch', 'resnet26', '--width', '0.25', '--epochs', '1', '--batch-size', '10', '--json', '--output'];
  const results = [npx([...args, 'run']), ref([...args, 'run'])].map((r, i) => {
    const { trainSeconds: _s, imagesPerSec: _i, ...rest } = JSON.parse(ok(r, `train (${i ? 'reference' : 'consumer'})`));
    return rest;
  });
  assert.deepEqual(results[0], results[1]);
  assert.equal(results[0].trainImages, 20);
  assert.ok(existsSync(join(consumer, 'run', 'last.pth')));

  // eval and predict on the trained run, against the checkout's.
  const digit = Buffer.alloc(28 * 28);
  for (let i = 4; i < 24; i++) digit[i * 28 + 14] = 255; // a "1"
  for (const where of [consumer, reference]) await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(where, 'digit.png'));
  const [evalGot, evalWant] = [npx(['eval', 'run', '--json']), ref(['eval', 'run', '--json'])].map((r, i) => {
    const { seconds: _s, ...rest } = JSON.parse(ok(r, `eval (${i ? 'reference' : 'consumer'})`));
    return rest;
  });
  assert.deepEqual(evalGot, evalWant);
  assert.equal(evalGot.testAcc, results[0].bestTestAcc);
  const predictArgs = ['predict', 'digit.png', '--run', 'run', '--json'];
  assert.equal(ok(npx(predictArgs), 'predict (consumer)'), ok(ref(predictArgs), 'predict (reference)'));
});

const mountable = spawnSync('unshare', ['-m', 'true']).status === 0;

test('without libtorch the package still installs; --help works and the first tensor command says what is missing', mountable ? {} : { skip: 'needs root and mount namespaces (unshare -m) to hide libtorch' }, () => {
  const bare = join(dir, 'bare');
  project(bare);
  // Debian's libtorch hidden (PyTorch's torch/include links to it too), in a private mount namespace.
  const hidden = `mount -t tmpfs tmpfs /usr/include/ATen && exec npm ci --offline --no-audit --no-fund`;
  ok(run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', hidden], bare), 'npm ci without libtorch');
  const why = readFileSync(join(bare, 'node_modules/spottune/native/build/not-built.txt'), 'utf8');
  assert.match(why, /^libtorch not found: looked for \/usr\/include\/ATen\/ATen\.h .*\n.*apt-get install libtorch-dev .*pip install torch .*LIBTORCH=/);
  const npx = (args: string[]) => run('npx', ['--offline', 'spottune', ...args], bare);
  assert.match(ok(npx(['--help']), 'spottune --help'), /Usage: spottune/);
  const r = npx(['train', '--method', 'finetune', '--data', 'digits', '--epochs', '1', '--output', 'run']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /spottune's native addon is not built .*apt-get install libtorch-dev.*npm rebuild spottune/);
  assert.match(r.stderr, /The install could not build it: libtorch not found/);
});
