import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { PyObject } from '../../src/io/pickle.js';
import { loadPth, readPth, stateDictOf, writePth } from '../../src/io/pth.js';
import { type RawTensor, type StateDict, DTYPES, dtypeSize, numel } from '../../src/io/raw.js';
import { ZipReader } from '../../src/io/zip.js';
import { encode, expected, fixture, noTorch, runScript, tempDir } from './helpers.js';

const dir = tempDir();

for (const name of ['dtypes', 'views', 'small_model', 'checkpoint', 'checkpoint_p4']) {
  test(`${name}.pth: every value reads back as PyTorch saved it`, () => {
    assert.deepEqual(encode(loadPth(fixture(`${name}.pth`))), expected(name));
  });
}

test('reads deflated and zip64 archives of the same entries', () => {
  for (const name of ['dtypes_deflated.pth', 'dtypes_zip64.pth']) {
    assert.deepEqual(encode(readPth(fixture(name))), expected('dtypes'), name);
  }
});

test('reads the legacy (pre-1.6) format', () => {
  assert.deepEqual(encode(readPth(fixture('views_legacy.pth'))), expected('views'));
  assert.deepEqual(encode(loadPth(fixture('checkpoint_legacy.pth'))), expected('checkpoint'));
  const sd = readPth(fixture('views_legacy.pth'));
  assert.equal(sd.get('row')!.data.buffer, sd.get('base')!.data.buffer);
});

test('whole pickled models: refused by default, weights extracted from inert records on request', () => {
  for (const name of ['model.pth', 'model_legacy.pth']) {
    assert.throws(() => readPth(fixture(name)), /refusing global 'torch\.nn\.modules\.container\.Sequential'.*inertObjects/);
    const sd = readPth(fixture(name), { inertObjects: true });
    assert.deepEqual(encode(sd), expected('model'), name);
    assert.ok(!sd.has('3.scratch'), 'non-persistent buffers are not part of a state_dict');
  }
});

test("the SpotTune authors' checkpoint layout: {net, agent} models as PyTorch 0.4 pickled them", () => {
  const checkpoint = loadPth(fixture('spottune_style.pth'), { inertObjects: true }) as Map<string, PyObject>;
  assert.equal(checkpoint.get('net')!.className, 'spottune_models.ResNet');
  const models = new Map([...checkpoint].map(([k, m]) => [k, stateDictOf(m, 'spottune_style.pth')]));
  assert.deepEqual(encode(models), expected('spottune_style'));
  assert.throws(() => stateDictOf(new Map(), 'x.pth'), /x\.pth: the object is not a pickled nn\.Module/);
});

test('views of one storage: shared memory where contiguous, copies where strided', () => {
  const sd = readPth(fixture('views.pth'));
  const base = sd.get('base')!;
  const row = sd.get('row')!;
  assert.equal(row.data.buffer, base.data.buffer);
  assert.equal(row.data.byteOffset, base.data.byteOffset + 4 * 4);
  assert.deepEqual([...new Float32Array(row.data.buffer, row.data.byteOffset, 4)], [4, 5, 6, 7]);
  const t = sd.get('transposed')!;
  assert.deepEqual(t.shape, [4, 3]);
  assert.deepEqual([...new Float32Array(t.data.buffer, t.data.byteOffset, 12)], [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  for (const [key, tensor] of sd) assert.equal(tensor.data.byteOffset % dtypeSize(tensor.dtype), 0, key);
});

test('tells TorchScript archives and other files from torch.save files', () => {
  assert.throws(() => loadPth(fixture('torchscript.pt')), /torchscript\.pt: a TorchScript archive \(torch\.jit\.save\), which is not supported/);
  assert.throws(() => loadPth(fixture('plain_p2.pkl')), /plain_p2\.pkl: not a torch\.save file \(neither a zip archive nor the legacy format\)/);
});

test('readPth wants a state_dict and points to loadPth for other objects', () => {
  assert.throws(() => readPth(fixture('checkpoint.pth')), /checkpoint\.pth: expected a state_dict .* entry 'epoch' is not a tensor; use loadPth/);
});

test('refuses a malicious pickle by name, and nothing runs', () => {
  const pwned = '/tmp/PWNED_spottune_fixture';
  rmSync(pwned, { force: true });
  for (const name of ['malicious.pth', 'malicious_p4.pth']) {
    const path = fixture(name);
    assert.throws(() => loadPth(path), (e: Error) => {
      assert.match(e.message, /^refusing global 'posix\.system' in .*malicious(_p4)?\.pth: only tensors/);
      return true;
    });
    // Read as inert records, the call is only a record of itself.
    const inert = loadPth(path, { inertObjects: true }) as Map<string, PyObject>;
    assert.equal(inert.get('payload')!.className, 'posix.system');
    assert.throws(() => readPth(path, { inertObjects: true }), /entry 'payload' is not a tensor/);
  }
  assert.ok(!existsSync(pwned), 'the payload ran');
});

test('round trip pth -> pth is bit-exact, order kept', () => {
  for (const name of ['dtypes', 'views', 'small_model']) {
    const sd = readPth(fixture(`${name}.pth`));
    const out = join(dir, `${name}.pth`);
    writePth(out, sd);
    const back = readPth(out);
    assert.deepEqual([...back.keys()], [...sd.keys()]);
    assert.deepEqual(encode(back), encode(sd), name);
  }
  const checkpoint = loadPth(fixture('checkpoint.pth'));
  writePth(join(dir, 'checkpoint.pth'), checkpoint);
  assert.deepEqual(encode(loadPth(join(dir, 'checkpoint.pth'))), expected('checkpoint'));
});

test('shared objects stay shared: a tied tensor is saved once, a list may contain itself', () => {
  const sd = readPth(fixture('views.pth'));
  assert.equal(sd.get('tied_a'), sd.get('tied_b'));
  const out = join(dir, 'shared.pth');
  writePth(out, sd);
  const back = readPth(out);
  assert.equal(back.get('tied_a'), back.get('tied_b'));
  const zip = ZipReader.open(out);
  assert.equal([...zip.entries.keys()].filter((name) => name.startsWith('archive/data/')).length, sd.size - 1);
  zip.close();
  const cycle: unknown[] = [1];
  cycle.push(cycle);
  writePth(out, { cycle });
  const list = (loadPth(out) as Map<string, unknown[]>).get('cycle')!;
  assert.equal(list[1], list);
});

test('writes 64-byte aligned storages and no temporary file', () => {
  const out = join(dir, 'aligned.pth');
  writePth(out, new Map([['w', tensor('float32', [3], [1, 2, 3])]]));
  const bytes = readFileSync(out);
  const at = bytes.indexOf(Buffer.from(new Float32Array([1, 2, 3]).buffer));
  assert.ok(at > 0 && at % 64 === 0, `data at ${at}`);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('a failed write leaves the old file untouched', () => {
  const out = join(dir, 'keep.pth');
  writePth(out, new Map([['w', tensor('int64', [1], [7])]]));
  const before = readFileSync(out);
  const bad = { dtype: 'float32', shape: [2], data: new Uint8Array(4) } as RawTensor;
  assert.throws(() => writePth(out, new Map([['layer.weight', bad]])), /keep\.pth: tensor 'layer\.weight' has 4 bytes but float32 \[2\] needs 8/);
  assert.deepEqual(readFileSync(out), before);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
});

test('the writer names what it cannot save', () => {
  const out = join(dir, 'bad.pth');
  assert.throws(() => writePth(out, { a: [1, new Date(0)] }), /bad\.pth: 'a\[1\]' is Date, which cannot be saved/);
  let deep: unknown = 1;
  for (let i = 0; i < 1001; i++) deep = [deep];
  assert.throws(() => writePth(out, deep), /'\[0\]\[0\].*' is nested more than 1000 deep \(a cycle\?\)/);
  assert.throws(() => writePth(out, new Map([['w', { dtype: 'float32', shape: [-1], data: new Uint8Array(0) } as RawTensor]])), /shape \[-1\]/);
  assert.ok(!existsSync(out));
});

for (const name of ['views.pth', 'views_legacy.pth']) {
  test(`corrupt ${name}: every truncation and bit flip fails with the file named, or reads`, () => {
    const original = readFileSync(fixture(name));
    const path = join(dir, `corrupt_${name}`);
    for (let n = 0; n < original.length; n += 3) {
      writeFileSync(path, original.subarray(0, n));
      assert.throws(() => loadPth(path), (e: Error) => e.message.includes(path), `truncated to ${n}`);
    }
    for (let i = 0; i < original.length; i++) {
      const flipped = Uint8Array.from(original);
      flipped[i] ^= 1 << i % 8;
      writeFileSync(path, flipped);
      try {
        loadPth(path, { inertObjects: true });
      } catch (e) {
        assert.ok(e instanceof Error && e.message.includes(path), `bit ${i % 8} of byte ${i}: ${String(e)}`);
      }
    }
  });
}

test('a flipped bit in tensor data is caught by the CRC', () => {
  const original = readFileSync(fixture('dtypes.pth'));
  const at = original.indexOf(Buffer.from(new Int16Array([-32768, 32767, 5]).buffer));
  const flipped = Uint8Array.from(original);
  flipped[at + 2] ^= 4;
  const path = join(dir, 'flipped.pth');
  writeFileSync(path, flipped);
  assert.throws(() => readPth(path), /flipped\.pth: zip entry 'dtypes\/data\/\d+': CRC-32 is 0x[0-9a-f]{8} but the archive says/);
});

test('lying storage sizes and views are refused', () => {
  const path = join(dir, 'lying.pth');
  const sd = new Map([['w', tensor('float32', [2, 2], [1, 2, 3, 4])]]);
  writePth(path, sd);
  const bytes = readFileSync(path);
  // The pickle holds "K\x02K\x02\x86" for the shape (2, 2); claim (2, 9) instead. The CRC then
  // fails, which is the first line of defence; fix the CRC to reach the view check.
  const shapeAt = bytes.indexOf(Buffer.from([0x4b, 0x02, 0x4b, 0x02, 0x86]));
  bytes[shapeAt + 3] = 9;
  writeFileSync(path, bytes);
  assert.throws(() => readPth(path), /CRC-32/);
  writeFileSync(path, fixCrcs(bytes));
  assert.throws(() => readPth(path), /lying\.pth: storage 'archive\/data\/0': tensor view \(offset 0, size \[2,9\], stride \[2,1\]\): reaches element 10 of a storage holding 4/);
});

test('our .pth files load in PyTorch (torch.load, and weights_only=True)', (t) => {
  const reason = noTorch();
  if (reason) return t.skip(`PyTorch unavailable: ${reason}`);
  const sd: StateDict = new Map();
  for (const dtype of DTYPES) {
    const shape = dtype === 'int16' ? [] : dtype === 'uint8' ? [0, 5] : [2, 3];
    const data = new Uint8Array(numel(shape) * dtypeSize(dtype)).map((_, i) => (i * 37 + 11) & (dtype === 'bool' ? 1 : 0xff));
    sd.set(`layer.${dtype}`, { dtype, shape, data });
  }
  writePth(join(dir, 'ours.pth'), sd);
  writeFileSync(join(dir, 'ours.expected.json'), JSON.stringify(encode(sd)));
  const pairs = [join(dir, 'ours.pth'), join(dir, 'ours.expected.json')];
  for (const name of ['dtypes', 'views', 'small_model']) {
    writePth(join(dir, `from_${name}.pth`), readPth(fixture(`${name}.pth`)));
    pairs.push(join(dir, `from_${name}.pth`), fixture(`${name}.expected.json`));
  }
  runScript(['check', '--weights-only', ...pairs]);
  // Nested data: ints, floats, strings, bytes, tuples, lists, None, bools, a big int.
  writePth(join(dir, 'from_checkpoint.pth'), loadPth(fixture('checkpoint.pth')));
  runScript(['check', join(dir, 'from_checkpoint.pth'), fixture('checkpoint.expected.json')]);
});

test('torchvision resnet18: every tensor as PyTorch saved it, and back', (t) => {
  const reason = noTorch();
  if (reason) return t.skip(`PyTorch unavailable: ${reason}`);
  const resnetDir = join(dir, 'resnet18');
  runScript(['resnet18', resnetDir]);
  const path = join(resnetDir, 'resnet18.pth');
  const sd = readPth(path);
  assert.equal(sd.size, 122);
  assert.deepEqual(encode(sd, true), JSON.parse(readFileSync(join(resnetDir, 'resnet18.expected.json'), 'utf8')));
  const copy = join(resnetDir, 'copy.pth');
  writePth(copy, sd);
  assert.deepEqual(encode(readPth(copy), true), encode(sd, true));
  runScript(['check', '--weights-only', copy, join(resnetDir, 'resnet18.expected.json')]);
});

function tensor(dtype: 'float32' | 'int64', shape: number[], values: number[]): RawTensor {
  const data = dtype === 'float32' ? new Float32Array(values) : new BigInt64Array(values.map(BigInt));
  return { dtype, shape, data: new Uint8Array(data.buffer) };
}

// Recomputes each central-directory CRC from the entry data, as a forger would.
function fixCrcs(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  for (let p = out.indexOf('PK\x01\x02'); p >= 0; p = out.indexOf('PK\x01\x02', p + 4)) {
    const size = out.readUInt32LE(p + 24);
    const local = out.readUInt32LE(p + 42);
    const start = local + 30 + out.readUInt16LE(local + 26) + out.readUInt16LE(local + 28);
    const crc = crc32(out.subarray(start, start + size)) >>> 0;
    out.writeUInt32LE(crc, p + 16);
    out.writeUInt32LE(crc, local + 14);
  }
  return out;
}
