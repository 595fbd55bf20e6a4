// Locates libtorch for the native build. Default: Debian's libtorch-dev.
// LIBTORCH=/path selects another (for example an unpacked CUDA build from pytorch.org).
// Usage from binding.gyp: node find-libtorch.mjs include|libdir|libs
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export function findLibtorch(env = process.env) {
  if (env.LIBTORCH) {
    const root = env.LIBTORCH;
    const include = join(root, 'include');
    const lib = join(root, 'lib');
    const looked = [join(include, 'ATen/ATen.h'), join(lib, 'libtorch_cpu.so')];
    const missing = looked.filter((p) => !existsSync(p));
    if (missing.length > 0) {
      throw new Error(
        `LIBTORCH=${root} is not a libtorch folder: missing ${missing.join(', ')}.\n` +
          `Point LIBTORCH at an unpacked libtorch (with include/ and lib/), or unset it to use Debian's: apt-get install libtorch-dev`,
      );
    }
    return { includes: [include, join(include, 'torch/csrc/api/include')], libdir: lib, cuda: existsSync(join(lib, 'libtorch_cuda.so')) };
  }
  const include = '/usr/include';
  const libdir = '/usr/lib/x86_64-linux-gnu';
  const looked = [join(include, 'ATen/ATen.h'), join(libdir, 'libtorch_cpu.so')];
  const missing = looked.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `libtorch not found: looked for ${looked.join(' and ')} (missing ${missing.join(', ')}).\n` +
        `Install Debian's: apt-get install libtorch-dev   or set LIBTORCH=/path/to/libtorch`,
    );
  }
  return { includes: [include, join(include, 'torch/csrc/api/include')], libdir, cuda: readdirSync(libdir).includes('libtorch_cuda.so') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const t = findLibtorch();
    const what = process.argv[2];
    if (what === 'include') console.log(t.includes.join(' '));
    else if (what === 'libdir') console.log(t.libdir);
    else if (what === 'libs') console.log(['-ltorch_cpu', '-lc10', ...(t.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])].join(' '));
    else console.log(JSON.stringify(t));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
