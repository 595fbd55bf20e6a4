// What the fuzzer feeds and to which parser: each target has valid seed files (the repository's
// fixtures or small files made here in the real formats), a mutation that turns a seed into one
// input, and the parser call. An input is a set of files written into a folder (one file for
// most formats; a dataset folder for CUB, Decathlon, Flowers and Cars).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { deflateSync, gzipSync, inflateSync } from 'node:zlib';
import { Rng } from '../../src/util/rng.js';
import { readIdx } from '../../src/data/idx.js';
import { centerCrop, compose, decode, resize } from '../../src/data/transforms.js';
import { readMat } from '../../src/data/mat.js';
import { Decathlon } from '../../src/data/decathlon.js';
import { ImageList } from '../../src/data/image_list.js';
import { Cub200 } from '../../src/data/cub.js';
import { Flowers102 } from '../../src/data/flowers.js';
import { StanfordCars } from '../../src/data/cars.js';
import { PyObject, unpickle } from '../../src/io/pickle.js';
import { loadPth, stateDictOf } from '../../src/io/pth.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { ZipReader, writeZip } from '../../src/io/zip.js';
import { readConfigFile } from '../../src/train/config.js';
import { sweepFromFlags } from '../../src/experiments/commands.js';
import { planSweep } from '../../src/experiments/sweep_config.js';
import { bmpFile } from '../bmp.js';
import { pngFile } from '../png.js';
import { type Hostile, damage, hostileFragment, insertAt, mutateBytes, mutateJsonText, mutateLines, mutatePickle, pick, pickleOps } from './mutate.js';

const ROOT = join(import.meta.dirname, '..', '..');
const WEIGHTS = join(ROOT, 'fixtures', 'weights');
const DATA = join(ROOT, 'fixtures', 'data');

/** Relative path → bytes; a null value removes the file. */
export type Files = Map<string, Uint8Array | null>;

export interface Input {
  files: Files;
  /** The file (or folder) whose name every rejection must carry, relative to the input folder. */
  subject: string;
  /** A hostile pickle global was planted where the reader must meet it: it must be refused so. */
  hostile?: { global: string; expect: RegExp };
  /** Read pickles with { inertObjects: true }. */
  inert?: boolean;
}

export interface Target {
  name: string;
  /** Makes input number `index` of this target from its Rng. */
  generate(rng: Rng, canary: string): Input;
  /** Runs the parser on the input written into `dir` (awaited when it returns a promise). */
  parse(dir: string, input: Input): unknown;
}

const bytesOf = (path: string) => Uint8Array.from(readFileSync(path));
const chance = (rng: Rng, p: number) => rng.float() < p;
const utf8 = (s: string) => Uint8Array.from(Buffer.from(s, 'utf8'));
const single = (name: string, bytes: Uint8Array, extra: Partial<Input> = {}): Input => ({ files: new Map([[name, bytes]]), subject: name, ...extra });

// ---------- .pth: zip archives ----------

interface ZipSeed {
  name: string;
  bytes: Uint8Array;
  entries: { name: string; data: Uint8Array }[];
  inert: boolean;
}

function zipBytes(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  writeZip((b) => parts.push(Uint8Array.from(b)), entries);
  return Uint8Array.from(Buffer.concat(parts));
}

function zipSeed(name: string): ZipSeed {
  const path = join(WEIGHTS, name);
  const zip = ZipReader.open(path);
  try {
    return { name, bytes: bytesOf(path), entries: [...zip.entries.keys()].map((n) => ({ name: n, data: zip.read(n) })), inert: needsInert(path) };
  } finally {
    zip.close();
  }
}

const ZIP_SEEDS = ['checkpoint.pth', 'checkpoint_p4.pth', 'dtypes.pth', 'dtypes_deflated.pth', 'dtypes_zip64.pth', 'model.pth', 'views.pth', 'small_model.pth'];

/** Walks a loaded value and checks every tensor's bytes match its shape and dtype. */
function checkTensors(v: unknown, file: string, seen = new Set<unknown>()): void {
  if (typeof v !== 'object' || v === null || seen.has(v)) return;
  seen.add(v);
  const t = v as { dtype?: unknown; shape?: unknown; data?: unknown };
  if (t.data instanceof Uint8Array && Array.isArray(t.shape)) {
    const sizes: Record<string, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };
    const n = (t.shape as number[]).reduce((a, b) => a * b, 1);
    if (t.data.length !== n * sizes[t.dtype as string]) throw new Error(`INVARIANT: ${file}: a tensor [${t.shape}] ${t.dtype} came back with ${t.data.length} bytes`);
    return;
  }
  const children = v instanceof Map ? [...v.values()] : v instanceof Set ? [...v] : Array.isArray(v) ? v : v instanceof PyObject ? [v.state, ...v.args] : [];
  for (const c of children) checkTensors(c, file, seen);
}

/** Whether a seed holds classes that only { inertObjects: true } reads (a whole pickled model). */
function needsInert(path: string): boolean {
  try {
    loadPth(path);
    return false;
  } catch (e) {
    if (/refusing global/.test((e as Error).message)) return true;
    throw e;
  }
}

// A hostile global planted after a model class: the reader refuses that class first, which is
// just as safe; for seeds of plain data the planted global itself must be the one refused.
const refusal = (h: Hostile, seedNeedsInert: boolean) => (seedNeedsInert ? { ...h, expect: /refusing global '[^']+'|opcode (INST|OBJ) \(0x..\) is not supported/ } : h);

function parsePth(file: string, inert: boolean): unknown {
  const value = loadPth(file, { inertObjects: inert });
  checkTensors(value, file);
  if (value instanceof PyObject) checkTensors(stateDictOf(value, file), file);
  return value;
}

function pthZip(): Target {
  const seeds = ZIP_SEEDS.map(zipSeed);
  return {
    name: 'pth',
    generate(rng, canary) {
      const seed = pick(rng, seeds);
      const inert = chance(rng, 0.3);
      const entries = seed.entries.map((e) => ({ ...e }));
      const pkl = entries.find((e) => e.name.endsWith('/data.pkl'))!;
      const r = rng.int(0, 10);
      if (r < 2) return single('model.pth', damage(rng, seed.bytes, pick(rng, seeds).bytes), { inert });
      if (r < 4) {
        // A hostile global at an opcode boundary of data.pkl: everything before it is valid.
        const { ops } = pickleOps(pkl.data);
        const h = hostileFragment(rng, canary);
        pkl.data = insertAt(pkl.data, ops, rng.int(1, ops.length), h.bytes);
        return single('model.pth', zipBytes(entries), inert ? { inert } : { hostile: refusal(h, seed.inert) });
      }
      if (r < 8) {
        for (let k = rng.int(1, 3); k > 0; k--) pkl.data = mutatePickle(rng, pkl.data, pickleOps(pkl.data).ops);
      } else {
        // storages cut short or grown, entries dropped, renamed or duplicated
        const e = pick(rng, entries);
        const what = rng.int(0, 4);
        if (what === 0) e.data = e.data.subarray(0, rng.int(0, e.data.length + 1));
        else if (what === 1) e.data = Uint8Array.from(Buffer.concat([e.data, new Uint8Array(rng.int(1, 64))]));
        else if (what === 2) entries.splice(entries.indexOf(e), 1);
        else entries.push({ name: pick(rng, [e.name, `${e.name.split('/')[0]}/constants.pkl`, 'other/data.pkl', e.name.replace(/\d+$/, '99')]), data: e.data });
      }
      const bytes = zipBytes(entries);
      return single('model.pth', chance(rng, 0.1) ? mutateBytes(rng, bytes) : bytes, { inert });
    },
    parse: (dir, input) => parsePth(join(dir, input.subject), input.inert === true),
  };
}

// ---------- .pth: the legacy format ----------

function pthLegacy(): Target {
  const seeds = ['checkpoint_legacy.pth', 'model_legacy.pth', 'views_legacy.pth', 'spottune_style.pth'].map((n) => ({ bytes: bytesOf(join(WEIGHTS, n)), inert: needsInert(join(WEIGHTS, n)) }));
  return {
    name: 'pth-legacy',
    generate(rng, canary) {
      const seed = pick(rng, seeds);
      const bytes = seed.bytes;
      const inert = chance(rng, 0.3);
      const { ops, pickles } = pickleOps(bytes);
      const r = rng.int(0, 10);
      if (r < 3) return single('model.pth', damage(rng, bytes, pick(rng, seeds).bytes), { inert });
      if (r < 5 && pickles.length >= 5) {
        // Into the saved object's pickle (the fourth): the header before it stays valid.
        const h = hostileFragment(rng, canary);
        return single('model.pth', insertAt(bytes, ops, rng.int(pickles[3] + 1, pickles[4]), h.bytes), inert ? { inert } : { hostile: refusal(h, seed.inert) });
      }
      let out: Uint8Array = bytes;
      for (let k = rng.int(1, 3); k > 0; k--) out = mutatePickle(rng, out, pickleOps(out).ops);
      return single('model.pth', out, { inert });
    },
    parse: (dir, input) => parsePth(join(dir, input.subject), input.inert === true),
  };
}

// ---------- raw pickles ----------

function pickles(): Target {
  const seeds = ['plain_p2.pkl', 'plain_p3.pkl', 'plain_p4.pkl', 'plain_p5.pkl', 'malicious_p2.pkl'].map((n) => bytesOf(join(WEIGHTS, n)));
  return {
    name: 'pickle',
    generate(rng, canary) {
      const bytes = pick(rng, seeds.slice(0, 4));
      const { ops } = pickleOps(bytes);
      const r = rng.int(0, 10);
      if (r < 2) return single('data.pkl', damage(rng, bytes, pick(rng, seeds)));
      if (r < 4) {
        const h = hostileFragment(rng, canary);
        return single('data.pkl', insertAt(bytes, ops, rng.int(1, ops.length), h.bytes), { hostile: h });
      }
      if (r < 5) return single('data.pkl', seeds[4], { hostile: { global: 'posix.system', expect: /refusing global 'posix\.system'/ } });
      let out: Uint8Array = bytes;
      for (let k = rng.int(1, 4); k > 0; k--) out = mutatePickle(rng, out, pickleOps(out).ops);
      return single('data.pkl', out);
    },
    parse(dir, input) {
      const file = join(dir, input.subject);
      return unpickle(readFileSync(file), {
        source: file,
        persistentLoad: () => {
          throw new Error(`${file}: unexpected persistent id`);
        },
      }).value;
    },
  };
}

// ---------- safetensors ----------

function safetensors(): Target {
  const seeds = [bytesOf(join(WEIGHTS, 'tensors.safetensors'))];
  return {
    name: 'safetensors',
    generate(rng) {
      const bytes = pick(rng, seeds);
      if (chance(rng, 0.3)) return single('model.safetensors', damage(rng, bytes));
      const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      const header = mutateJsonText(rng, Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
      let data = bytes.subarray(8 + n);
      if (chance(rng, 0.2)) data = data.subarray(0, rng.int(0, data.length + 1));
      const prefix = new Uint8Array(8);
      // usually the true header length; sometimes a lie
      const length = chance(rng, 0.85) ? BigInt(header.length) : BigInt(header.length) + pick(rng, [1n, -1n, 2n ** 32n, 2n ** 63n]);
      new DataView(prefix.buffer).setBigUint64(0, BigInt.asUintN(64, length), true);
      return single('model.safetensors', Uint8Array.from(Buffer.concat([prefix, header, data])));
    },
    parse(dir, input) {
      const file = join(dir, input.subject);
      const r = loadSafetensors(file);
      checkTensors(r.tensors, file);
      return r;
    },
  };
}

// ---------- IDX (MNIST, Fashion-MNIST) ----------

function idxFile(dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const dv = new DataView(header.buffer);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => dv.setUint32(4 + 4 * k, d, false));
  return Uint8Array.from(Buffer.concat([header, data]));
}

let zeros: Uint8Array | undefined;
/** A gzip member of 16 MiB of zeros (16 KiB compressed). */
const zerosMember = (): Uint8Array => (zeros ??= Uint8Array.from(gzipSync(Buffer.alloc(16 * 2 ** 20), { level: 1 })));

function idx(): Target {
  const images = idxFile([5, 4, 4], Uint8Array.from({ length: 80 }, (_, i) => (i * 37) & 0xff));
  const labels = idxFile([5], Uint8Array.of(0, 1, 2, 3, 9));
  return {
    name: 'idx',
    generate(rng) {
      const raw = pick(rng, [images, labels]);
      const gz = chance(rng, 0.5);
      let out: Uint8Array;
      if (gz && chance(rng, 0.3)) {
        out = damage(rng, Uint8Array.from(gzipSync(raw))); // a broken gzip stream
      } else {
        out = raw;
        if (chance(rng, 0.5)) {
          // the header: a dimension, the dimension count or the type byte
          out = Uint8Array.from(raw);
          const dv = new DataView(out.buffer);
          const k = rng.int(0, 3);
          if (k === 0 && out[3] > 0) dv.setUint32(4 + 4 * rng.int(0, out[3]), pick(rng, [0, 1, 0xffffffff, 0x80000000, 65536]), false);
          else if (k === 1) out[3] = pick(rng, [0, 1, 2, 3, 4, 255]);
          else out[2] = pick(rng, [0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff]);
        }
        if (chance(rng, 0.6)) out = damage(rng, out);
        if (gz) out = Uint8Array.from(gzipSync(out));
        // A gzip bomb: members of 16 MiB of zeros after the honest one (up to 2 GiB in all).
        if (gz && chance(rng, 0.2)) out = Uint8Array.from(Buffer.concat([out, ...Array.from({ length: rng.int(1, 129) }, zerosMember)]));
      }
      return single(gz ? 'data-idx3-ubyte.gz' : 'data-idx3-ubyte', out);
    },
    parse: (dir, input) => readIdx(join(dir, input.subject)),
  };
}

// ---------- image files (src/data/image_file.ts, bmp.ts, pnm.ts) ----------

/** JPEGs made by sharp in a child process (sharp has no synchronous encoder). */
function jpegSeeds(): Uint8Array[] {
  const script = `const sharp = require('sharp');
const px = Buffer.from(Array.from({ length: 9 * 7 * 3 }, (_, i) => (i * 37) & 255));
Promise.all([
  sharp(px, { raw: { width: 9, height: 7, channels: 3 } }).jpeg().toBuffer(),
  sharp(px, { raw: { width: 9, height: 7, channels: 3 } }).jpeg({ progressive: true }).toBuffer(),
  sharp(px.subarray(0, 63), { raw: { width: 9, height: 7, channels: 1 } }).jpeg().toBuffer(),
  sharp(px, { raw: { width: 9, height: 7, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer(),
]).then((bs) => process.stdout.write(JSON.stringify(bs.map((b) => b.toString('base64')))));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  return (JSON.parse(out) as string[]).map((b) => Uint8Array.from(Buffer.from(b, 'base64')));
}

function images(): Target {
  const px = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 53) & 0xff);
  const ramp = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 29) & 0xff);
  const seeds: { name: string; bytes: Uint8Array }[] = [
    { name: 'grey.png', bytes: pngFile(6, 5, 0, 8, px(30)) },
    { name: 'rgb.png', bytes: pngFile(6, 5, 2, 8, px(90)) },
    { name: 'rgba.png', bytes: pngFile(6, 5, 6, 8, px(120)) },
    { name: 'grey16.png', bytes: pngFile(6, 5, 0, 16, px(60)) },
    { name: 'a.bmp', bytes: bmpFile(7, 5, 24, ramp) },
    { name: 'b.bmp', bytes: bmpFile(7, 5, 4, ramp) },
    { name: 'c.bmp', bytes: bmpFile(7, 5, 1, ramp) },
    { name: 'd.bmp', bytes: bmpFile(7, 5, 32, ramp, { compression: 3 }) },
    { name: 'e.bmp', bytes: bmpFile(7, 5, 8, ramp) },
    { name: 'a.ppm', bytes: Uint8Array.from(Buffer.concat([Buffer.from('P6\n4 3\n255\n'), Buffer.from(px(36))])) },
    { name: 'b.pgm', bytes: Uint8Array.from(Buffer.concat([Buffer.from('P5 4 3 255 '), Buffer.from(px(12))])) },
    { name: 'c.ppm', bytes: utf8(`P3\n# comment\n2 2\n255\n${Array.from(px(12)).join(' ')}\n`) },
    { name: 'd.pgm', bytes: utf8(`P2 3 2 255 ${Array.from(px(6)).join(' ')}`) },
    { name: 'e.pbm', bytes: utf8('P1\n5 2\n1 0 1 1 0\n00110\n') },
    { name: 'f.pbm', bytes: Uint8Array.from(Buffer.concat([Buffer.from('P4\n9 2\n'), Buffer.from([0xa5, 0x80, 0x5a, 0x00])])) },
    ...jpegSeeds().map((bytes, k) => ({ name: `${k}.jpg`, bytes })),
  ];
  const predict = compose({ steps: [resize(32), centerCrop(28)] });
  return {
    name: 'image',
    generate(rng) {
      const seed = pick(rng, seeds);
      let out: Uint8Array = Uint8Array.from(seed.bytes);
      if (chance(rng, 0.3)) {
        // A size field made huge or zero: the pixel limits must hold before anything is allocated.
        const dv = new DataView(out.buffer);
        const big = pick(rng, [0, 1, 0x7fff, 0xffff, 150000, 0x7fffffff, 0xffffffff]);
        if (seed.name.endsWith('.png') && out.length > 24) dv.setUint32(pick(rng, [16, 20]), big, false);
        else if (seed.name.endsWith('.bmp') && out.length > 26) dv.setInt32(pick(rng, [18, 22]), chance(rng, 0.5) ? big | 0 : -(big | 0), true);
        else if (seed.name.match(/\.p[bgp]m$/)) out = utf8(Buffer.from(out).toString('latin1').replace(/\d+/, String(big)));
      }
      if (chance(rng, 0.7)) out = damage(rng, out, pick(rng, seeds).bytes);
      return single(seed.name, out);
    },
    async parse(dir, input) {
      const path = join(dir, input.subject);
      await decode({ kind: 'file', path }, 3);
      await decode({ kind: 'file', path }, 1);
      return predict({ kind: 'file', path }, new Rng(0));
    },
  };
}

// ---------- MATLAB .mat ----------

/** Damages a .mat file; inside a compressed element, after inflating it, so the damage reaches the parser. */
function mutateMat(rng: Rng, bytes: Uint8Array): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const compressed: number[] = [];
  for (let o = 128; o + 8 <= bytes.length; ) {
    const type = dv.getUint32(o, true);
    const n = dv.getUint32(o + 4, true);
    if (type === 15) compressed.push(o);
    o += 8 + (type === 15 ? n : Math.ceil(n / 8) * 8);
  }
  if (compressed.length === 0 || chance(rng, 0.3)) return damage(rng, bytes);
  const at = pick(rng, compressed);
  const n = dv.getUint32(at + 4, true);
  let inner = damage(rng, Uint8Array.from(inflateSync(bytes.subarray(at + 8, at + 8 + n))));
  // A zlib bomb: megabytes of zeros beyond what the element's tag declares.
  if (chance(rng, 0.2)) inner = Uint8Array.from(Buffer.concat([inner, Buffer.alloc(rng.int(1, 9) * 2 ** 20)]));
  const packed = deflateSync(inner);
  const tag = new Uint8Array(8);
  new DataView(tag.buffer).setUint32(0, 15, true);
  new DataView(tag.buffer).setUint32(4, packed.length, true);
  return Uint8Array.from(Buffer.concat([bytes.subarray(0, at), tag, packed, bytes.subarray(at + 8 + n)]));
}

function mat(): Target {
  const seeds = ['mat/types_plain.mat', 'mat/types_compressed.mat', 'flowers/imagelabels.mat', 'flowers/setid.mat', 'cars/cars_test_annos_withlabels.mat', 'cars/devkit/cars_meta.mat', 'cars/devkit/cars_train_annos.mat'].map((n) => bytesOf(join(DATA, n)));
  return {
    name: 'mat',
    generate: (rng) => single('data.mat', mutateMat(rng, pick(rng, seeds))),
    parse: (dir, input) => readMat(join(dir, input.subject)),
  };
}

/** A dataset folder from fixtures, one of whose files is mutated (or removed). */
function folderTarget(name: string, fixture: string, files: string[], mutate: (rng: Rng, bytes: Uint8Array, file: string) => Uint8Array, parse: (root: string) => unknown): Target {
  const seed = new Map(files.map((f) => [f, bytesOf(join(DATA, fixture, f))]));
  return {
    name,
    generate(rng) {
      const out: Files = new Map(seed);
      const f = pick(rng, files);
      out.set(f, chance(rng, 0.03) ? null : mutate(rng, seed.get(f)!, f));
      return { files: out, subject: '.' };
    },
    parse: (dir) => parse(dir),
  };
}

// ---------- text and JSON annotations ----------

function folder(name: string, seed: Map<string, string>, parse: (root: string) => unknown): Target {
  const files = [...seed.keys()];
  return {
    name,
    generate(rng) {
      const out: Files = new Map([...seed].map(([k, v]) => [k, utf8(v)]));
      const f = pick(rng, files);
      const text = seed.get(f)!;
      let bytes: Uint8Array | null = f.endsWith('.json') ? mutateJsonText(rng, text) : mutateLines(rng, utf8(text));
      if (chance(rng, 0.03)) bytes = null;
      out.set(f, bytes);
      return { files: out, subject: '.' };
    },
    parse: (dir) => parse(dir),
  };
}

function decathlon(): Target {
  const coco = {
    images: Array.from({ length: 8 }, (_, i) => ({ id: 100 + i, file_name: `data/aircraft/train/${i}.jpg`, width: 64, height: 64 })),
    annotations: Array.from({ length: 8 }, (_, i) => ({ id: i, image_id: 100 + i, category_id: 10001 + (i % 3) })),
    categories: [10001, 10002, 10003].map((id) => ({ id, name: `c${id}` })),
  };
  return folder('decathlon', new Map([['annotations/aircraft_train.json', JSON.stringify(coco)]]), (root) => new Decathlon({ root, name: 'aircraft', split: 'train' }));
}

function imageList(): Target {
  const list = Array.from({ length: 12 }, (_, i) => `images/class_${i % 4}/img ${i}.jpg ${i % 4}`).join('\n') + '\n';
  return folder('image-list', new Map([['train.txt', list]]), (root) => new ImageList({ root, list: join(root, 'train.txt') }));
}

function cub(): Target {
  const n = 10;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const seed = new Map([
    ['classes.txt', [1, 2, 3].map((c) => `${c} 00${c}.Bird_${c}`).join('\n') + '\n'],
    ['images.txt', ids.map((i) => `${i} 00${(i % 3) + 1}.Bird/img_${i}.jpg`).join('\n') + '\n'],
    ['image_class_labels.txt', ids.map((i) => `${i} ${(i % 3) + 1}`).join('\n') + '\n'],
    ['train_test_split.txt', ids.map((i) => `${i} ${i % 2}`).join('\n') + '\n'],
  ]);
  return folder('cub', seed, (root) => [new Cub200({ root, split: 'train' }), new Cub200({ root, split: 'test' })]);
}

function config(): Target {
  const valid = {
    method: 'spottune', arch: 'resnet26', width: 0.25, weights: 'source.safetensors', data: 'glyphs', perClass: 10, epochs: 3, batchSize: 16,
    lr: 0.05, lrAgent: 0.01, momentum: 0.9, weightDecay: 5e-4, weightDecayAgent: 1e-3, schedule: 'multistep', milestones: [1, 2], gamma: 0.1,
    warmupEpochs: 0, labelSmoothing: 0, seed: 3, evalEvery: 1, skipNonFinite: false,
    tau: 5, frozenBn: 'train', evalRouting: 'argmax', agentWidth: 1,
  };
  return folder('config', new Map([['config.json', JSON.stringify(valid)]]), (root) => readConfigFile(join(root, 'config.json')));
}

function sweep(): Target {
  return folder('sweep', new Map([['sweep.json', readFileSync(join(ROOT, 'experiments', 'small.json'), 'utf8')]]), (root) => {
    const { cfg, where, output } = sweepFromFlags({ config: join(root, 'sweep.json'), base: {}, output: join(root, 'out') });
    return planSweep(cfg, output, { where });
  });
}

/**
 * Parsers that fail on purpose, on input 1 of each run, so a test can check that the harness
 * sees each kind of failure (set SPOTTUNE_FUZZ_SELFTEST=1 to include them).
 */
function selfTests(): Target[] {
  const make = (name: string, fail: () => unknown): Target => ({
    name,
    generate: (rng) => single('file.bin', Uint8Array.of(rng.int(0, 256))),
    parse: (dir, input) => {
      // The worker writes the index of the input it runs to <dir>/../current.
      if (readFileSync(join(dir, '..', 'current'), 'utf8') === '1') return fail();
      throw new Error(`${join(dir, input.subject)}: rejected`);
    },
  });
  return [
    make('selftest-crash', () => process.abort()),
    make('selftest-hang', () => {
      for (;;);
    }),
    make('selftest-memory', () => Array.from({ length: 64 }, () => Buffer.alloc(32 * 2 ** 20, 1))),
    make('selftest-unclear', () => (null as unknown as { x: number }).x),
  ];
}

export function makeTargets(): Target[] {
  return [
    ...(process.env.SPOTTUNE_FUZZ_SELFTEST ? selfTests() : []),
    pthZip(),
    pthLegacy(),
    pickles(),
    safetensors(),
    idx(),
    images(),
    mat(),
    folderTarget('flowers', 'flowers', ['imagelabels.mat', 'setid.mat'], mutateMat, (root) => ['train', 'val', 'test', 'trainval'].map((split) => new Flowers102({ root, split: split as 'train' }))),
    folderTarget('cars', 'cars', ['devkit/cars_meta.mat', 'devkit/cars_train_annos.mat', 'cars_test_annos_withlabels.mat'], mutateMat, (root) => [new StanfordCars({ root, split: 'train' }), new StanfordCars({ root, split: 'test' })]),
    decathlon(),
    imageList(),
    cub(),
    config(),
    sweep(),
  ];
}
