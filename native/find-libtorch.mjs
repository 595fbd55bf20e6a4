// Locates libtorch for the native build:
//   LIBTORCH=/path/to/libtorch      an unpacked libtorch (include/ and lib/), e.g. a CUDA build from pytorch.org
//   LIBTORCH=/path/to/libtorch.zip  an archive (.zip, .tar.gz, .tgz): unpacked once into native/build/libtorch
//   LIBTORCH=auto                   the libtorch inside the installed PyTorch (python3 -c 'import torch'),
//                                   the usual way on a CUDA machine
//   unset                           Debian's libtorch-dev, else the installed PyTorch's
// PYTHON=/path/to/python picks the interpreter. What a libtorch lacks only disables what needs it:
// without gloo headers (PyTorch's wheels ship none) the addon is built without data-parallel
// training (native/src/dist_none.cc), and says so.
// Usage from binding.gyp: node find-libtorch.mjs include|libdir|libs|abi|dist
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** What the build needs to know of a libtorch whose headers and libraries are in include/ and lib/. */
function describe(include, libdir, abi) {
  const libs = readdirSync(libdir);
  return {
    includes: [include, join(include, 'torch/csrc/api/include')],
    libdir,
    cuda: libs.includes('libtorch_cuda.so'),
    abi,
    gloo: existsSync(join(include, 'gloo/algorithm.h')),
    libtorchSo: libs.includes('libtorch.so') && include !== '/usr/include',
  };
}

/** The libtorch of a PyTorch installation (torch/include, torch/lib), or why there is none. */
export function pytorchLibtorch(python) {
  const r = spawnSync(python, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch.compiled_with_cxx11_abi()))'], { encoding: 'utf8' });
  if (r.error) return { why: `${python} not found` };
  if (r.status !== 0) return { why: `${python} has no torch module` };
  const [root, abi] = r.stdout.trim().split('\n');
  const include = join(root, 'include');
  const libdir = join(root, 'lib');
  const missing = [join(include, 'ATen/ATen.h'), join(libdir, 'libtorch_cpu.so')].filter((p) => !existsSync(p));
  if (missing.length > 0) return { why: `its torch in ${root} lacks ${missing.join(', ')}` };
  return describe(include, libdir, Number(abi));
}

/** Unpacks a libtorch archive into native/build/libtorch/<name> (once). */
function unpack(archive) {
  const dest = join(here, 'build', 'libtorch', basename(archive).replace(/\.(zip|tar\.gz|tgz)$/, ''));
  if (existsSync(join(dest, 'include'))) return dest;
  const tmp = `${dest}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = archive.endsWith('.zip')
    ? spawnSync('python3', ['-m', 'zipfile', '-e', archive, tmp], { stdio: ['ignore', 'ignore', 'inherit'] })
    : spawnSync('tar', ['-xzf', archive, '-C', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`LIBTORCH=${archive}: could not unpack the archive`);
  // pytorch.org's archives hold one folder, libtorch/.
  const top = readdirSync(tmp);
  renameSync(top.length === 1 && existsSync(join(tmp, top[0], 'include')) ? join(tmp, top[0]) : tmp, dest);
  rmSync(tmp, { recursive: true, force: true });
  return dest;
}

export function findLibtorch(env = process.env) {
  const python = env.PYTHON ?? 'python3';
  if (env.LIBTORCH === 'auto') {
    const pytorch = pytorchLibtorch(python);
    if (pytorch.why) throw new Error(`LIBTORCH=auto: no PyTorch installation (${pytorch.why}).\nInstall PyTorch (pip install torch), set PYTHON=/path/to/python, or point LIBTORCH at an unpacked libtorch`);
    return pytorch;
  }
  if (env.LIBTORCH) {
    const archive = /\.(zip|tar\.gz|tgz)$/.test(env.LIBTORCH);
    if (archive && !existsSync(env.LIBTORCH)) throw new Error(`LIBTORCH=${env.LIBTORCH}: archive not found`);
    const root = archive ? unpack(env.LIBTORCH) : env.LIBTORCH;
    const include = join(root, 'include');
    const lib = join(root, 'lib');
    const looked = [join(include, 'ATen/ATen.h'), join(lib, 'libtorch_cpu.so')];
    const missing = looked.filter((p) => !existsSync(p));
    if (missing.length > 0) {
      throw new Error(
        `LIBTORCH=${env.LIBTORCH} is not a libtorch ${archive ? 'archive' : 'folder'}: missing ${missing.join(', ')}.\n` +
          `Point LIBTORCH at an unpacked libtorch (with include/ and lib/), a libtorch archive, or auto; or unset it to use Debian's: apt-get install libtorch-dev`,
      );
    }
    return describe(include, lib, Number(env.LIBTORCH_CXX11_ABI ?? 1));
  }
  const include = '/usr/include';
  const libdir = '/usr/lib/x86_64-linux-gnu';
  const looked = [join(include, 'ATen/ATen.h'), join(libdir, 'libtorch_cpu.so')];
  const missing = looked.filter((p) => !existsSync(p));
  if (missing.length === 0) return describe(include, libdir, 1);
  const pytorch = pytorchLibtorch(python);
  if (!pytorch.why) return pytorch;
  throw new Error(
    `libtorch not found: looked for ${looked.join(' and ')} (missing ${missing.join(', ')}), and for a PyTorch installation (${pytorch.why}).\n` +
      `Install Debian's: apt-get install libtorch-dev   or PyTorch: pip install torch   or set LIBTORCH=/path/to/libtorch (or an archive, or auto)`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const t = findLibtorch();
    const what = process.argv[2];
    if (what === 'include') console.log(t.includes.join(' '));
    else if (what === 'libdir') console.log(t.libdir);
    else if (what === 'abi') console.log(t.abi);
    else if (what === 'libs') console.log([...(t.libtorchSo ? ['-ltorch'] : []), '-ltorch_cpu', '-lc10', ...(t.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])].join(' '));
    else if (what === 'dist') {
      if (!t.gloo) console.error('spottune native build: this libtorch has no gloo headers (include/gloo): building without data-parallel training (c10d Gloo); everything else is unaffected');
      console.log(t.gloo ? 'src/dist.cc' : 'src/dist_none.cc');
    } else console.log(JSON.stringify(t));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
