import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PyObject, unpickle } from '../../src/io/pickle.js';
import { encode, expected, fixture } from './helpers.js';

const noPersistentIds = (): never => {
  throw new Error('unexpected persistent id');
};

function load(bytes: Uint8Array | number[], persistentLoad: (pid: unknown) => unknown = noPersistentIds): unknown {
  return unpickle(Uint8Array.from(bytes), { source: 'test.pkl', persistentLoad }).value;
}

// Builds a pickle from opcodes given as strings (one character each) and byte values.
function pk(...parts: (string | number | number[])[]): number[] {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (Array.isArray(p)) out.push(...p);
    else for (const ch of Buffer.from(p, 'latin1')) out.push(ch);
  }
  return out;
}

for (const protocol of [2, 3, 4, 5]) {
  test(`reads Python's protocol ${protocol} pickle of plain data`, () => {
    const value = load(readFileSync(fixture(`plain_p${protocol}.pkl`)));
    assert.deepEqual(encode(value), expected('plain'));
  });
}

test('memoized objects stay shared, tuples are frozen, lists are not', () => {
  const value = load(readFileSync(fixture('plain_p4.pkl'))) as Map<string, unknown>;
  const shared = value.get('shared') as unknown[][];
  assert.equal(shared[0], shared[1]);
  assert.ok(Object.isFrozen((value.get('tuples') as unknown[])[2]));
  assert.ok(!Object.isFrozen(value.get('long_list')));
});

test('refuses a global that is not allowed, naming it, before anything is built', () => {
  const bytes = readFileSync(fixture('malicious_p2.pkl'));
  assert.throws(() => load(bytes), /refusing global 'posix\.system' in test\.pkl: only tensors/);
  for (const [module, name] of [
    ['builtins', 'eval'],
    ['torch', 'load'],
    ['collections', 'defaultdict'],
    ['torch._utils', '_rebuild_qtensor'],
  ]) {
    const global = pk('\x80\x02c', `${module}\n${name}\n`, ')R.');
    assert.throws(() => load(global), new RegExp(`refusing global '${module}\\.${name}'`));
    const stackGlobal = pk('\x80\x04\x8c', module.length, module, '\x8c', name.length, name, '\x93)R.');
    assert.throws(() => load(stackGlobal), new RegExp(`refusing global '${module}\\.${name}'`));
  }
});

test('allowed callables check their arguments', () => {
  assert.deepEqual(load(pk('\x80\x02ccollections\nOrderedDict\n)R.')), new Map());
  assert.throws(() => load(pk('\x80\x02ccollections\nOrderedDict\nK\x01\x85R.')), /OrderedDict: expected no arguments/);
  assert.throws(() => load(pk('\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R.')), /only encode\(text, 'latin1'\)/);
  assert.throws(() => load(pk('\x80\x02ctorch._utils\n_rebuild_tensor_v2\nK\x01\x85R.')), /expected 6 or 7 arguments/);
  assert.throws(() => load(pk('\x80\x02ctorch\nFloatStorage\n)R.')), /cannot call 'torch\.FloatStorage'/);
  assert.throws(() => load(pk('\x80\x02N)R.')), /cannot call None/);
});

test('sets, Python 2 strings', () => {
  assert.deepEqual(load(pk('\x80\x04\x8f(K\x01K\x02\x90.')), new Set([1, 2]));
  assert.deepEqual(load(pk('\x80\x04(K\x01\x91.')), new Set([1]));
  assert.deepEqual(load(pk('\x80\x02c__builtin__\nset\n]K\x03a\x85R.')), new Set([3]));
  assert.deepEqual(load(pk('\x80\x02U\x02hiT\x03\x00\x00\x00abc\x86.')), ['hi', 'abc']);
});

test('inertObjects: other classes become inert records, and nothing runs', () => {
  // NEWOBJ of mymodel.Net with no arguments, then BUILD with its __dict__, as protocol 2 pickles objects.
  const bytes = pk('\x80\x02cmymodel\nNet\n)\x81}X\x01\x00\x00\x00aK\x07sb.');
  assert.throws(() => load(bytes), /refusing global 'mymodel\.Net' in test\.pkl: .*\{ inertObjects: true \}/);
  const value = unpickle(Uint8Array.from(bytes), { source: 'x', persistentLoad: noPersistentIds, inertObjects: true }).value;
  assert.ok(value instanceof PyObject);
  assert.equal(value.className, 'mymodel.Net');
  assert.deepEqual(value.state, new Map([['a', 7]]));
  const call = unpickle(readFileSync(fixture('malicious_p2.pkl')), { source: 'x', persistentLoad: noPersistentIds, inertObjects: true });
  const payload = (call.value as Map<string, PyObject>).get('payload')!;
  assert.equal(payload.className, 'posix.system');
  assert.match(String(payload.args[0]), /^touch \/tmp\/PWNED/);
});

test('persistent ids go to the caller', () => {
  const seen: unknown[] = [];
  const value = load(pk('\x80\x02X\x03\x00\x00\x00abcQ.'), (pid) => (seen.push(pid), 42));
  assert.equal(value, 42);
  assert.deepEqual(seen, ['abc']);
});

test('corrupt pickles give clear errors naming the source and offset', () => {
  const cases: [number[], RegExp][] = [
    [pk('\x80\x02\xff'), /test\.pkl: pickle opcode at byte 2: unknown opcode 0xff/],
    [pk('\x80\x02\x82\x01.'), /opcode EXT1 \(0x82\) is not supported/],
    [pk('\x80\x02I01\n.'), /opcode INT \(0x49\) is not supported/],
    [pk('\x80\x06N.'), /pickle protocol 6 is newer than 5/],
    [pk('\x80\x02t.'), /no MARK to pop to/],
    [pk('\x80\x02R.'), /stack underflow/],
    [pk('\x80\x02(0.'), /stack underflow/],
    [pk('\x80\x02h\x05.'), /memo has no entry 5/],
    [pk('\x80\x02j\x00\x00\x00\x10.'), /memo has no entry 268435456/],
    [pk('\x80\x02NN.'), /STOP with 2 values on the stack/],
    [pk('\x80\x02(N.'), /STOP with 1 values/],
    [pk('\x80\x02N'), /ends without STOP \(truncated\)/],
    [pk('\x80\x02X\xff\xff\xff\x7fabc.'), /needs 2147483647 bytes but only 4 remain/],
    [pk('\x80\x04\x8d', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f], '.'), /larger than the whole pickle/],
    [pk('\x80\x04\x95', [0, 0, 0, 0, 0, 0, 0, 0x40], '.'), /larger than the whole pickle/],
    [pk('\x80\x02\x8b\xff\xff\xff\xff.'), /negative LONG4 length/],
    [pk('\x80\x02X\x02\x00\x00\x00\xc3\x28.'), /not valid UTF-8/],
    [pk('\x80\x02cposix'), /unterminated line/],
    [pk('\x80\x02K\x01K\x02K\x03s.'), /cannot set items on a number/],
    [pk('\x80\x02)K\x01a.'), /cannot append to a tuple/],
    [pk('\x80\x02}(K\x01u.'), /odd number of items/],
    [pk('\x80\x02]}b.'), /cannot set the state of a list/],
    [pk('\x80\x02\x93.'), /stack underflow/],
    [pk('\x80\x02K\x01K\x02\x93.'), /STACK_GLOBAL needs two strings/],
  ];
  for (const [bytes, message] of cases) assert.throws(() => load(bytes), message, `pickle ${Buffer.from(bytes).toString('hex')}`);
});

test('every truncation of a real pickle fails cleanly', () => {
  const bytes = readFileSync(fixture('plain_p4.pkl'));
  for (let n = 0; n < bytes.length; n += 7) {
    assert.throws(() => load(bytes.subarray(0, n)), /^Error: test\.pkl: pickle opcode at byte \d+: /, `length ${n}`);
  }
});

test('starts at an offset and reports where the pickle ended', () => {
  const bytes = Uint8Array.from(pk('junk', '\x80\x02K\x07.', 'more'));
  assert.deepEqual(unpickle(bytes, { source: 'x', persistentLoad: noPersistentIds, start: 4 }), { value: 7, end: 9 });
});
