// Locates libtorch for the native build: LIBTORCH=/path if set (an unpacked libtorch from
// pytorch.org, e.g. a CUDA build), else Debian's libtorch-dev, else the libtorch inside a PyTorch
// installation (`python3 -c 'import torch'`; PYTHON=/path/to/python picks the interpreter).
// Usage from binding.gyp: node find-libtorch.mjs include|libdir|libs|abi
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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
  return { includes: [include, join(include, 'torch/csrc/api/include')], libdir, cuda: existsSync(join(libdir, 'libtorch_cuda.so')), abi: Number(abi) };
}

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
    return { includes: [include, join(include, 'torch/csrc/api/include')], libdir: lib, cuda: existsSync(join(lib, 'libtorch_cuda.so')), abi: 1 };
  }
  const include = '/usr/include';
  const libdir = '/usr/lib/x86_64-linux-gnu';
  const looked = [join(include, 'ATen/ATen.h'), join(libdir, 'libtorch_cpu.so')];
  const missing = looked.filter((p) => !existsSync(p));
  if (missing.length === 0) {
    return { includes: [include, join(include, 'torch/csrc/api/include')], libdir, cuda: readdirSync(libdir).includes('libtorch_cuda.so'), abi: 1 };
  }
  const python = env.PYTHON ?? 'python3';
  const pytorch = pytorchLibtorch(python);
  if (!pytorch.why) return pytorch;
  throw new Error(
    `libtorch not found: looked for ${looked.join(' and ')} (missing ${missing.join(', ')}), and for a PyTorch installation (${pytorch.why}).\n` +
      `Install Debian's: apt-get install libtorch-dev   or PyTorch: pip install torch   or set LIBTORCH=/path/to/libtorch`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const t = findLibtorch();
    const what = process.argv[2];
    if (what === 'include') console.log(t.includes.join(' '));
    else if (what === 'libdir') console.log(t.libdir);
    else if (what === 'abi') console.log(t.abi);
    else if (what === 'libs') console.log(['-ltorch_cpu', '-lc10', ...(t.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])].join(' '));
    else console.log(JSON.stringify(t));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
