"""Weights fixtures for src/io, written by PyTorch itself. Run with Debian's /usr/bin/python3
(torch 1.13, torchvision 0.14), not a Python without torch.

  fixtures_weights.py [OUTDIR]            small fixtures (committed; default fixtures/weights)
  fixtures_weights.py resnet18 OUTDIR     a random-init torchvision resnet18(num_classes=10) (~45 MB)
  fixtures_weights.py check [--weights-only] FILE EXPECTED [FILE EXPECTED ...]
                                          load each FILE (.pth with torch.load, .safetensors by
                                          hand) and compare it with its EXPECTED; exit 1 on any
                                          difference. --weights-only: also load with
                                          torch.load(weights_only=True), PyTorch's allow-list
                                          unpickler (in 1.13 it takes tensors, dicts and ints,
                                          not floats)

Each fixture X comes with X.expected.json: the saved value in a typed JSON encoding (see
`encode`), tensors as dtype, shape and their contiguous little-endian bytes in hex (or sha256).
"""
import collections
import hashlib
import json
import math
import os
import pickle
import struct
import sys
import types
import warnings
import zipfile

import torch

DTYPES = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16',
    torch.bfloat16: 'bfloat16', torch.int64: 'int64', torch.int32: 'int32', torch.int16: 'int16',
    torch.int8: 'int8', torch.uint8: 'uint8', torch.bool: 'bool',
}
SAFETENSORS_CODES = {
    'float32': 'F32', 'float64': 'F64', 'float16': 'F16', 'bfloat16': 'BF16', 'int64': 'I64',
    'int32': 'I32', 'int16': 'I16', 'int8': 'I8', 'uint8': 'U8', 'bool': 'BOOL',
}
PWNED = '/tmp/PWNED_spottune_fixture'


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; same-size view keeps the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def encode(v, digest=False):
    """A typed JSON form of a loaded value, mirrored by test/io/helpers.ts."""
    if isinstance(v, torch.Tensor):
        data = raw_bytes(v)
        out = {'dtype': DTYPES[v.dtype], 'shape': list(v.shape)}
        out['sha256' if digest else 'hex'] = hashlib.sha256(data).hexdigest() if digest else data.hex()
        return {'tensor': out}
    if isinstance(v, dict):
        return {'dict': [[encode(k, digest), encode(x, digest)] for k, x in v.items()]}
    if isinstance(v, list):
        return {'list': [encode(x, digest) for x in v]}
    if isinstance(v, tuple):
        return {'tuple': [encode(x, digest) for x in v]}
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {'int': str(v)}
    if isinstance(v, float):
        return {'float': v if math.isfinite(v) else repr(v)}
    if isinstance(v, str):
        return {'str': v}
    if isinstance(v, bytes):
        return {'bytes': v.hex()}
    raise TypeError(f'cannot encode {type(v)}')


def save(obj, path, digest=False, **kwargs):
    torch.save(obj, path, **kwargs)
    with open(os.path.splitext(path)[0] + '.expected.json', 'w') as f:
        json.dump(encode(obj, digest), f, indent=1)


def every_dtype():
    g = torch.Generator().manual_seed(0)
    sd = collections.OrderedDict()
    sd['f32'] = torch.randn(3, 4, generator=g)
    sd['f32_special'] = torch.tensor([float('nan'), float('inf'), float('-inf'), -0.0, 1e-45])
    sd['f64'] = torch.randn(2, 3, generator=g, dtype=torch.float64)
    sd['f16'] = torch.randn(5, generator=g).half()
    sd['bf16'] = torch.randn(2, 2, generator=g).bfloat16()
    sd['i64'] = torch.tensor([0, -1, 2 ** 40, -2 ** 62, 2 ** 63 - 1], dtype=torch.int64)
    sd['i32'] = torch.tensor([[1, -2], [2 ** 31 - 1, -2 ** 31]], dtype=torch.int32)
    sd['i16'] = torch.tensor([-32768, 32767, 5], dtype=torch.int16)
    sd['i8'] = torch.tensor([-128, 127, 0, -1], dtype=torch.int8)
    sd['u8'] = torch.arange(0, 256, 51, dtype=torch.uint8)
    sd['bool'] = torch.tensor([[True, False, True]])
    sd['scalar'] = torch.tensor(2.5)
    sd['empty'] = torch.zeros(0, 3)
    return sd


def views():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tied = torch.randn(2, 2, generator=torch.Generator().manual_seed(1))
    sd = collections.OrderedDict()
    sd['base'] = base
    sd['transposed'] = base.t()                      # stride (1, 4)
    sd['row'] = base[1]                              # shares base's storage at offset 4
    sd['column'] = base[:, 2]                        # offset 2, stride 4
    sd['narrow'] = base.narrow(1, 1, 2)              # rows of 2 from rows of 4
    sd['expanded'] = torch.arange(3.0).expand(4, 3)  # stride 0 over a 3-element storage
    sd['permuted'] = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4).permute(2, 0, 1)
    sd['long_t'] = torch.arange(6, dtype=torch.int64).reshape(2, 3).t()
    sd['half_t'] = torch.arange(6, dtype=torch.float16).reshape(2, 3).t()
    sd['bool_t'] = (torch.arange(6) % 4 == 0).reshape(2, 3).t()
    sd['tied_a'] = tied                              # one tensor object saved twice
    sd['tied_b'] = tied
    return sd


def small_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4, 2))
    model(torch.randn(2, 3, 3, 3))  # one training step's worth of BN statistics
    return model.state_dict()


def checkpoint():
    return {
        'epoch': 3,
        'state_dict': small_model(),
        'optimizer': {'state': {0: {'momentum_buffer': torch.ones(2)}},
                      'param_groups': [{'lr': 0.1, 'momentum': 0.9, 'nesterov': False, 'params': [0, 1]}]},
        'best_acc': 0.75,
        'loss': float('nan'),
        'name': 'run-1 ünïcode',
        'flags': (True, False, None),
        'big': 2 ** 70,
        'negative': -5,
        'mid': 70000,
        'blob': b'\x00\x01\xff',
        'shape': (1, 2, 3, 4),
    }


class Scaled(torch.nn.Module):
    """A module with every kind of state: a parameter, a None parameter, persistent and
    non-persistent buffers and a submodule."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.full((4,), 0.5))
        self.register_parameter('unused', None)
        self.register_buffer('offset', torch.arange(4.0))
        self.register_buffer('scratch', torch.zeros(4), persistent=False)
        self.head = torch.nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(x.mean((2, 3)) * self.scale + self.offset)


def whole_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), Scaled())


def spottune_style(path):
    """A checkpoint as the SpotTune authors' code saves it, {'net': model, 'agent': model}, the way
    PyTorch 0.4 pickled it: legacy format, Parameter(tensor, requires_grad), and a `_backend`
    attribute on every module that unpickles through torch.nn.backends.thnn."""
    import torch.nn.backends.thnn as thnn

    class Backend:
        def __reduce__(self):
            return (thnn._get_thnn_function_backend, ())

    # The authors' model classes live in their module spottune_models.
    models = types.ModuleType('spottune_models')
    sys.modules['spottune_models'] = models

    class ResNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(4)
            self.blocks = torch.nn.ModuleList([torch.nn.Conv2d(4, 4, 1), torch.nn.Conv2d(4, 4, 1)])
            self.parallel_blocks = torch.nn.ModuleList([torch.nn.Conv2d(4, 4, 1)])
            self.linear = torch.nn.Linear(4, 10)

    ResNet.__module__, ResNet.__qualname__ = models.__name__, 'ResNet'
    models.ResNet = ResNet

    class OldPickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, torch.nn.Parameter):
                return (torch.nn.Parameter, (obj.data, obj.requires_grad))
            return NotImplemented

    torch.manual_seed(0)
    state = {'net': ResNet(), 'agent': ResNet()}
    for model in state.values():
        for m in model.modules():
            m.__dict__['_backend'] = Backend()
    expected = {k: m.state_dict() for k, m in state.items()}
    old_pickle = types.ModuleType('old_pickle')
    old_pickle.Pickler, old_pickle.dump = OldPickler, pickle.dump
    warnings.filterwarnings('ignore', "Couldn't retrieve source code")  # of the stand-in class
    torch.save(state, path, pickle_module=old_pickle, _use_new_zipfile_serialization=False)
    with open(os.path.splitext(path)[0] + '.expected.json', 'w') as f:
        json.dump(encode(expected), f, indent=1)


class Evil:
    """Runs a shell command when unpickled by Python's pickle."""

    def __reduce__(self):
        return (os.system, (f'touch {PWNED}',))


def plain_data():
    """Plain Python data exercising the pickle opcodes of protocols 2 to 5."""
    shared = [1, 2]
    return {
        'ints': [0, 255, 256, 65535, 65536, -1, -2 ** 31, 2 ** 31 - 1, 2 ** 31, 2 ** 63, -2 ** 100],
        'floats': [0.5, -1.25, 1e-300, float('inf')],  # integral floats would read back as ints
        'strings': ['', 'short', 'x' * 300, 'ünï'],
        'bytes': [b'', b'\x00\xff', bytes(range(256)) * 2],
        'singletons': [None, True, False],
        'tuples': [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        'nested': {'a': {'b': [{'c': ()}]}, 7: 'int key'},
        'shared': [shared, shared],
        'long_list': list(range(1500)),
        'ordered': collections.OrderedDict([('z', 1), ('a', 2)]),
    }


def write_pickles(out):
    for protocol in (2, 3, 4, 5):
        name = os.path.join(out, f'plain_p{protocol}.pkl')
        with open(name, 'wb') as f:
            pickle.dump(plain_data(), f, protocol=protocol)
    with open(os.path.join(out, 'plain.expected.json'), 'w') as f:
        json.dump(encode(plain_data()), f, indent=1)
    with open(os.path.join(out, 'malicious_p2.pkl'), 'wb') as f:
        pickle.dump({'payload': Evil()}, f, protocol=2)


def write_safetensors(path, tensors, metadata):
    """The safetensors layout by hand, header keys deliberately not in data order."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = raw_bytes(t)
        header[name] = {'dtype': SAFETENSORS_CODES[DTYPES[t.dtype]], 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header = dict(reversed(list(header.items())))
    header['__metadata__'] = metadata
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))
    with open(os.path.splitext(path)[0] + '.expected.json', 'w') as f:
        json.dump({'metadata': metadata, 'tensors': encode(tensors)}, f, indent=1)


def rezip(src, dst, compression):
    """The same archive entries, re-packed by Python's zipfile (deflated, or zip64 everywhere)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', compression) as zout:
        for info in zin.infolist():
            fixed_time = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zout.writestr(fixed_time, zin.read(info.filename), compress_type=compression)


def small_fixtures(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    save(every_dtype(), p('dtypes.pth'))
    save(views(), p('views.pth'))
    save(small_model(), p('small_model.pth'))
    save(checkpoint(), p('checkpoint.pth'))
    save(checkpoint(), p('checkpoint_p4.pth'), pickle_protocol=4)  # FRAME, MEMOIZE, STACK_GLOBAL...
    torch.save({'weight': torch.zeros(1), 'payload': Evil()}, p('malicious.pth'))
    torch.save({'weight': torch.zeros(1), 'payload': Evil()}, p('malicious_p4.pth'), pickle_protocol=4)
    rezip(p('dtypes.pth'), p('dtypes_deflated.pth'), zipfile.ZIP_DEFLATED)
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 0  # every size and offset "needs" zip64
    try:
        rezip(p('dtypes.pth'), p('dtypes_zip64.pth'), zipfile.ZIP_STORED)
    finally:
        zipfile.ZIP64_LIMIT = limit
    assert encode(torch.load(p('dtypes_deflated.pth'))) == encode(every_dtype())
    # PyTorch's own reader (miniz) rejects this zip64 layout, though it is valid zip; zipfile reads it.
    with zipfile.ZipFile(p('dtypes_zip64.pth')) as z:
        assert z.testzip() is None
    write_pickles(out)
    # The same values in the legacy (pre-1.6) format; their expectations are the files above.
    torch.save(views(), p('views_legacy.pth'), _use_new_zipfile_serialization=False)
    torch.save(checkpoint(), p('checkpoint_legacy.pth'), _use_new_zipfile_serialization=False)
    # Whole pickled models, whose weights are read from inert records.
    model = whole_model()
    torch.save(model, p('model.pth'))
    torch.save(model, p('model_legacy.pth'), _use_new_zipfile_serialization=False)
    with open(p('model.expected.json'), 'w') as f:
        json.dump(encode(model.state_dict()), f, indent=1)
    spottune_style(p('spottune_style.pth'))
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), p('torchscript.pt'))  # not a torch.save file
    tensors = every_dtype()
    del tensors['f32_special']
    tensors['views_transposed'] = views()['transposed']
    write_safetensors(p('tensors.safetensors'), tensors, {'format': 'pt', 'note': 'written by hand'})


def resnet18(out):
    import torchvision
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    save(model.state_dict(), os.path.join(out, 'resnet18.pth'), digest=True)


def read_safetensors(path):
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    assert n % 8 == 0, f'header length {n} is not a multiple of 8'
    header = json.loads(blob[8:8 + n])
    metadata = header.pop('__metadata__', {})
    data = blob[8 + n:]
    codes = {code: dtype for dtype, code in SAFETENSORS_CODES.items()}
    by_name = {name: dtype for dtype, name in DTYPES.items()}
    tensors, covered = collections.OrderedDict(), 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):
        begin, end = info['data_offsets']
        assert begin == covered, f'{name}: gap or overlap at {begin}'
        covered = end
        dtype = by_name[codes[info['dtype']]]
        chunk = bytearray(data[begin:end])
        t = torch.frombuffer(chunk, dtype=dtype) if chunk else torch.zeros(0, dtype=dtype)
        tensors[name] = t.reshape(info['shape'])
    assert covered == len(data), f'tensors cover {covered} of {len(data)} data bytes'
    return {'metadata': metadata, 'tensors': encode(tensors)}


def matches(actual, expected):
    """Compares a loaded value with an expected encoding, hashing tensors the expectation hashes."""
    if isinstance(expected, dict) and 'tensor' in expected and 'sha256' in expected['tensor']:
        return isinstance(actual, torch.Tensor) and encode(actual, digest=True) == expected
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in ('dict', 'list', 'tuple'):
        kind, items = next(iter(expected.items()))
        if kind == 'dict':
            return (isinstance(actual, dict) and len(actual) == len(items) and
                    all(encode(k) == ek and matches(v, ev) for (k, v), (ek, ev) in zip(actual.items(), items)))
        wanted = list if kind == 'list' else tuple
        return (type(actual) is wanted and len(actual) == len(items) and
                all(matches(a, e) for a, e in zip(actual, items)))
    return encode(actual) == expected


def check(path, expected_path, weights_only):
    """Whether the file at path holds what expected_path describes."""
    with open(expected_path) as f:
        expected = json.load(f)
    if path.endswith('.safetensors'):
        actual = read_safetensors(path)
        ok = actual == expected
    else:
        ok = matches(torch.load(path, map_location='cpu'), expected)
        if ok and weights_only:
            ok = matches(torch.load(path, map_location='cpu', weights_only=True), expected)
    print(f'{path}: {"ok" if ok else "does not match " + expected_path}', file=sys.stdout if ok else sys.stderr)
    return ok


def main(argv):
    if argv[:1] == ['check']:
        weights_only = argv[1:2] == ['--weights-only']
        pairs = argv[2 if weights_only else 1:]
        if not pairs or len(pairs) % 2:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
        results = [check(pairs[i], pairs[i + 1], weights_only) for i in range(0, len(pairs), 2)]
        sys.exit(0 if all(results) else 1)
    elif argv[:1] == ['resnet18'] and len(argv) == 2:
        resnet18(argv[1])
    elif len(argv) <= 1 and argv[:1] != ['-h']:
        here = os.path.dirname(os.path.abspath(__file__))
        small_fixtures(argv[0] if argv else os.path.join(here, '..', 'fixtures', 'weights'))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main(sys.argv[1:])
