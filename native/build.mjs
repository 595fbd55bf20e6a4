// Builds the native addon with node-gyp against the libtorch that find-libtorch.mjs picks.
// Checks libtorch first so a missing install fails with the command that fixes it.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch } from './find-libtorch.mjs';

const here = dirname(fileURLToPath(import.meta.url));
try {
  findLibtorch();
} catch (e) {
  console.error(`spottune native build: ${e.message}`);
  process.exit(1);
}
const gyp = join(here, '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const jobs = String(Math.max(1, Number(process.env.JOBS ?? 2)));
const args = [gyp, process.argv.includes('--rebuild') ? 'rebuild' : 'build', '--directory', here, '--nodedir=/usr', `--jobs=${jobs}`];
let r = spawnSync(process.execPath, [gyp, 'configure', '--directory', here, '--nodedir=/usr'], { stdio: 'inherit' });
if (r.status === 0) r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
