// The third place the install looks for libtorch: a PyTorch installation. Debian's python3-torch
// has PyTorch's layout (torch/include, torch/lib), so it stands in for a pip wheel here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
// @ts-expect-error: a plain .mjs build script, without types
import { findLibtorch, pytorchLibtorch } from '../../native/find-libtorch.mjs';

const PYTHON = '/usr/bin/python3';

test("a PyTorch installation: its torch/include and torch/lib, and the C++ ABI it was compiled with", () => {
  const r = spawnSync(PYTHON, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__)); print(int(torch.compiled_with_cxx11_abi()))'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [root, abi] = r.stdout.trim().split('\n');
  assert.deepEqual(pytorchLibtorch(PYTHON), {
    includes: [join(root, 'include'), join(root, 'include', 'torch/csrc/api/include')],
    libdir: join(root, 'lib'),
    cuda: false,
    abi: Number(abi),
    // Debian's python3-torch, like a pip wheel, ships libtorch.so and no gloo headers.
    gloo: false,
    libtorchSo: true,
  });
});

test('no PyTorch: why, naming the interpreter', () => {
  assert.deepEqual(pytorchLibtorch('/nonexistent/python3'), { why: '/nonexistent/python3 not found' });
  assert.deepEqual(pytorchLibtorch('/bin/false'), { why: '/bin/false has no torch module' });
});

test("Debian's libtorch comes first, LIBTORCH before it", () => {
  assert.equal(findLibtorch({ PYTHON }).libdir, '/usr/lib/x86_64-linux-gnu');
  assert.throws(() => findLibtorch({ LIBTORCH: '/nonexistent', PYTHON }), /LIBTORCH=\/nonexistent is not a libtorch folder/);
});
