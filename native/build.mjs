// Builds the native addon with node-gyp against the libtorch that find-libtorch.mjs picks.
// Checks libtorch and the build tools first so a missing one fails with the command that fixes it.
//   node native/build.mjs [--rebuild]   (npm run build:native) exits 1 when the build fails.
//   node native/build.mjs --install     (npm's install step) never fails the install: without
//     libtorch or a compiler the package still installs (the CLI's --help works, the pure-JS
//     parts too) and native/build/not-built.txt says why; src/torch/native.ts shows it on the
//     first use of a tensor. `npm rebuild spottune` builds it once the cause is fixed.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch } from './find-libtorch.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const notBuilt = join(here, 'build', 'not-built.txt');
// npm shows an install script's output only when it fails, so the install keeps node-gyp's.
const log = join(here, 'build', 'install.log');
const install = process.argv.includes('--install');

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v "${cmd}"`], { stdio: 'ignore' }).status === 0;
}

// node-gyp needs Node's headers: those installed with this node (Debian's nodejs, the official
// tarballs, nvm) are used, so no download is needed; without them node-gyp downloads them.
function nodeDir() {
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/** Runs node-gyp; returns undefined on success, else why it failed. */
function build() {
  let torch;
  try {
    torch = findLibtorch();
  } catch (e) {
    return e.message;
  }
  const cxx = process.env.CXX ?? 'g++';
  const tools = [[cxx, 'a C++17 compiler (apt-get install g++, or set CXX)'], ['make', 'make (apt-get install make)'], ['python3', 'python3, for node-gyp (apt-get install python3)']];
  const missing = tools.filter(([cmd]) => !onPath(cmd.split(' ')[0])).map(([, what]) => what);
  if (missing.length > 0) return `building the addon needs ${missing.join(', ')}`;
  let gyp;
  try {
    gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return 'node-gyp is not installed (npm install node-gyp)';
  }
  const dir = nodeDir();
  const common = ['--directory', here, ...(dir ? [`--nodedir=${dir}`] : [])];
  const jobs = String(Math.max(1, Number(process.env.JOBS ?? availableParallelism())));
  let out = 'inherit';
  if (install) {
    mkdirSync(dirname(log), { recursive: true });
    out = openSync(log, 'w');
  }
  const run = (args) => spawnSync(process.execPath, [gyp, ...args, ...common], { stdio: ['ignore', out, out] }).status;
  let status = run(['configure']);
  if (status === 0) status = run([process.argv.includes('--rebuild') ? 'rebuild' : 'build', `--jobs=${jobs}`]);
  if (install) closeSync(out);
  if (status !== 0) return `node-gyp failed (exit ${status}) building against the libtorch in ${torch.libdir}; its output is ${install ? `in ${log}` : 'above'}`;
  return undefined;
}

const why = build();
if (why === undefined) {
  rmSync(notBuilt, { force: true });
  process.exit(0);
}
console.error(`spottune native build: ${why}`);
if (!install) process.exit(1);
mkdirSync(dirname(notBuilt), { recursive: true });
writeFileSync(notBuilt, `${why}\n`);
console.error('spottune is installed without its native addon: commands that need tensors will say why. Once fixed: npm rebuild spottune (see docs/install.md)');
process.exit(0);
