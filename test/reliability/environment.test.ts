// Faults of the environment, made real: a read-only output folder, a full disk (a small tmpfs),
// libtorch missing or LIBTORCH wrong, the addon not built, a dataset package not installed
// (hidden by mounts in a private mount namespace, so nothing outside the test changes). Each is
// a clear error, before any training, with the command that fixes it; a disk that fills up
// mid-run loses nothing. Mounting needs root: without it these tests are skipped, saying why.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FASHION_MNIST_ROOT } from '../../src/data/idx.js';
import { UCI_DIGITS_FILE } from '../../src/data/digits.js';
import { addonPath } from '../../src/torch/native.js';
import { differences } from './kill_resume.js';
import { CLI, ROOT, epochOf, runCli, sourceWeights, tempDir, tempFiles, trainArgs } from './helpers.js';

const dir = tempDir('environment');
const weights = sourceWeights(dir);

function sh(command: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('sh', ['-c', command], { encoding: 'utf8', cwd: ROOT });
}
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const node = (args: string[]) => [process.execPath, ...args].map(quote).join(' ');
const cli = (args: string[]) => node([...CLI, ...args]);

/** Runs `command` in a private mount namespace after the given mounts (mount(8) arguments). */
function withMounts(mounts: string[], command: string) {
  return sh(`unshare -m --propagation private sh -c ${quote([...mounts.map((m) => `mount ${m}`), `exec ${command}`].join(' && '))}`);
}

const probe = join(dir, 'mount-probe');
mkdirSync(probe);
const mountable = withMounts([`-t tmpfs -o size=1m tmpfs ${probe}`], 'true').status === 0;
const needsMount = mountable ? {} : { skip: 'needs root and mount namespaces (unshare -m) to fake a read-only or full disk' };

/** A tmpfs of `size` mounted on a new folder until the end of test `t`. */
function tmpfs(t: TestContext, name: string, size: string, options = ''): string {
  const where = join(dir, name);
  mkdirSync(where);
  const r = sh(`mount -t tmpfs -o size=${size}${options ? `,${options}` : ''} tmpfs ${quote(where)}`);
  assert.equal(r.status, 0, r.stderr);
  t.after(() => {
    spawnSync('umount', ['-l', where]);
  });
  return where;
}

test('a read-only output folder, or a path through a file: refused before any work, saying what to do', needsMount, (t) => {
  const ro = tmpfs(t, 'readonly', '1m', 'ro');
  for (const [output, why] of [[join(ro, 'run'), /read-only file system/], [join(weights, 'run'), /a part of the path is a file/]] as const) {
    const r = runCli(trainArgs(weights, output, ['--epochs', '1']));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cannot write to the output folder ${output} \\(`));
    assert.match(r.stderr, why);
    assert.match(r.stderr, /choose another --output/);
  }
});

test('a disk too small for the checkpoints: refused after building the model, before the first step', needsMount, (t) => {
  const small = tmpfs(t, 'small', '256k');
  const run = join(small, 'run');
  const r = runCli(trainArgs(weights, run, ['--epochs', '1']));
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${run} has 0\\.\\d MB free, but the checkpoints need about \\d+\\.\\d MB: free some space, or choose another --output`));
  assert.equal(existsSync(join(run, 'metrics.jsonl')), false, 'no training started');
});

/** Fills a file system to the last byte. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 1 << 12, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

test('the disk fills up mid-run: the write fails naming the file, the last checkpoint stays whole, and the run resumes to the same weights', needsMount, async (t) => {
  const disk = tmpfs(t, 'disk', '32m');
  const run = join(disk, 'run');
  const args = trainArgs(weights, run, ['--epochs', '3', '--eval-every', '10']);
  // Paused as soon as the first checkpoint exists, the disk is filled, then it continues.
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  while (!existsSync(run)) await new Promise((r) => setTimeout(r, 5));
  const filler = join(disk, 'filler');
  const watcher = watch(run, (_e, name) => {
    if (name === 'last.pth' && existsSync(join(run, 'last.pth')) && !existsSync(filler)) {
      child.kill('SIGSTOP');
      fill(filler);
      child.kill('SIGCONT');
    }
  });
  const code = await exited;
  watcher.close();
  assert.equal(code, 1, stderr);
  assert.match(stderr, new RegExp(`cannot write ${run}/(last\\.pth|best\\.pth|metrics\\.jsonl): the disk is full \\(ENOSPC`));
  assert.equal(epochOf(join(run, 'last.pth')), 0, 'the first checkpoint is intact');
  assert.deepEqual(tempFiles(run), [], 'the failed write removed its temporary file');

  rmSync(filler);
  const resumed = runCli([...args, '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const reference = join(dir, 'reference');
  assert.equal(runCli(trainArgs(weights, reference, ['--epochs', '3', '--eval-every', '10'])).status, 0);
  assert.deepEqual(differences(reference, run), []);
});

test('LIBTORCH pointing nowhere: the build stops at once naming what is missing and how to fix it', () => {
  for (const script of ['native/find-libtorch.mjs', 'native/build.mjs']) {
    const r = sh(`LIBTORCH=/nonexistent/libtorch ${node([join(ROOT, script)])}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /LIBTORCH=\/nonexistent\/libtorch is not a libtorch folder: missing \/nonexistent\/libtorch\/include\/ATen\/ATen\.h/);
    assert.match(r.stderr, /apt-get install libtorch-dev/);
  }
});

test("Debian's libtorch missing: the build and the runtime say apt-get install libtorch-dev", needsMount, () => {
  const build = withMounts(['-t tmpfs tmpfs /usr/include/ATen'], node([join(ROOT, 'native', 'find-libtorch.mjs'), 'include']));
  assert.equal(build.status, 1);
  assert.match(build.stderr, /libtorch not found: looked for \/usr\/include\/ATen\/ATen\.h .*\n.*apt-get install libtorch-dev/);

  const lib = '/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13';
  if (!existsSync(lib)) return;
  const run = withMounts([`--bind /dev/null ${lib}`], cli(trainArgs(weights, join(dir, 'nolib'), ['--epochs', '1'])));
  assert.equal(run.status, 1);
  assert.match(run.stderr, /cannot load spottune's native addon .*libtorch_cpu\.so\.1\.13/);
  assert.match(run.stderr, /apt-get install libtorch-dev/);
  // Commands that need no tensor still work.
  const help = withMounts([`--bind /dev/null ${lib}`], cli(['--help']));
  assert.equal(help.status, 0, help.stderr);
});

test('the native addon not built: npm run build:native', needsMount, () => {
  const r = withMounts([`-t tmpfs tmpfs ${quote(join(addonPath, '..'))}`], cli(trainArgs(weights, join(dir, 'noaddon'), ['--epochs', '1'])));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /native addon is not built .*npm run build:native/);
});

test('a dataset package not installed: the error names the file and the apt-get command', needsMount, () => {
  const fashion = withMounts([`-t tmpfs tmpfs ${FASHION_MNIST_ROOT}`], cli(['pretrain', '--data', 'fashion-mnist', '--width', '0.25', '--epochs', '1', '--quiet', '--output', join(dir, 'nofashion')]));
  assert.equal(fashion.status, 1);
  assert.match(fashion.stderr, /Fashion-MNIST not found: .*train-images-idx3-ubyte\.gz\n\s+install it: apt-get install dataset-fashion-mnist/);
  assert.equal(existsSync(join(dir, 'nofashion', 'metrics.jsonl')), false);

  const digits = withMounts([`-t tmpfs tmpfs ${join(UCI_DIGITS_FILE, '..')}`], cli(trainArgs(weights, join(dir, 'nodigits'), ['--epochs', '1'])));
  assert.equal(digits.status, 1);
  assert.match(digits.stderr, /UCI digits not found: .*digits\.csv\.gz\n\s+install it: apt-get install python3-sklearn/);
});
