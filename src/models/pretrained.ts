// Pre-trained weights as people have them on disk, made into a backbone of this library: a state
// dict (.safetensors or torch.save), possibly inside a checkpoint dict ({'state_dict': …},
// {'model': …}, {'net': …}), with DataParallel's `module.` prefixes, with or without its
// classifier; or a whole pickled model, among them the SpotTune authors' resnet26_pretrained.t7
// (torch.save({'net': models.ResNet}) from PyTorch 0.4), whose Rebuffi ResNet-26 is mapped onto
// ours by module order, as their load_weights_to_flatresnet does. Nothing in a pickle runs:
// whole modules are read as inert records (src/io/pickle.ts).
import type { Tensor } from '../torch/index.js';
import { PyObject } from '../io/pickle.js';
import { loadPth, startsWithZipMagic, stateDictOf } from '../io/pth.js';
import { isRawTensor, type RawTensor, type StateDict } from '../io/raw.js';
import { readSafetensors } from '../io/safetensors.js';
import { rawToTensor } from '../io/tensors.js';
import type { Backbone } from './backbone.js';
import { createBackbone } from './index.js';

/** What a weights file holds, in this library's parameter names. */
export interface WeightsFile {
  path: string;
  format: 'safetensors' | 'torch.save zip' | 'torch.save legacy (PyTorch < 1.6)';
  /** Where the tensors were found, e.g. "checkpoint dict → 'state_dict'", "whole module models.ResNet". */
  container: string;
  /** What was normalised on the way (prefixes stripped, modules mapped by order). */
  notes: string[];
  stateDict: StateDict;
  /** For a whole pickled module: its tree, one "name: Class" line per module. */
  moduleTree?: string[];
}

const WRAPPER_KEYS = ['state_dict', 'model', 'net'];

/** Reads and normalises a weights file; refuses, naming the file, what holds no weights of a network. */
export function readWeightsFile(path: string): WeightsFile {
  if (path.endsWith('.safetensors')) return normalise({ path, format: 'safetensors', container: 'state dict', notes: [], stateDict: new Map() }, readSafetensors(path));
  const format = startsWithZipMagic(path) ? 'torch.save zip' : 'torch.save legacy (PyTorch < 1.6)';
  const file: WeightsFile = { path, format, container: '', notes: [], stateDict: new Map() };
  let value = loadPth(path, { inertObjects: true });
  const route: string[] = [];
  // {'epoch': 3, 'state_dict': {...}}, {'net': <module>, 'agent': <module>}, {'model': {'state_dict': ...}}
  for (let depth = 0; depth < 3 && value instanceof Map && ![...value.values()].every(isRawTensor); depth++) {
    const key = WRAPPER_KEYS.find((k) => value instanceof Map && value.has(k));
    if (!key) {
      const keys = [...value.keys()].slice(0, 8).map(String);
      throw new Error(`${path}: a dict without tensors at its top (keys ${keys.join(', ')}${value.size > 8 ? ', …' : ''}); expected a state dict or a checkpoint with one of ${WRAPPER_KEYS.map((k) => `'${k}'`).join(', ')}`);
    }
    route.push(`'${key}'`);
    value = value.get(key);
  }
  const where = route.length ? `checkpoint dict → ${route.join(' → ')}` : '';
  if (value instanceof PyObject) {
    file.moduleTree = namedModules(value, path).map(([n, m]) => `${n || '(root)'}: ${m.className}`);
    const module = `whole module ${value.className}`;
    file.container = where ? `${where}: ${module}` : module;
    if (isRebuffiModule(value, path)) {
      file.notes.push(`Rebuffi ResNet-26 of the SpotTune authors' models.py: convolutions, batch norms and the classifier mapped by module order, as their load_weights_to_flatresnet does`);
      return normalise(file, rebuffiStateDict(value, path));
    }
    return normalise(file, stateDictOf(value, path));
  }
  if (!(value instanceof Map)) throw new Error(`${path}: holds ${describe(value)}, not a state dict or a model`);
  file.container = where || 'state dict';
  return normalise(file, value as StateDict);
}

/** Strips DataParallel's `module.` prefixes. */
function normalise(file: WeightsFile, sd: StateDict): WeightsFile {
  for (const [k, t] of sd) if (!isRawTensor(t)) throw new Error(`${file.path}: '${String(k)}' is not a tensor`);
  const prefixed = [...sd.keys()].filter((k) => k.startsWith('module.'));
  if (prefixed.length > 0 && prefixed.length === sd.size) {
    file.notes.push(`stripped the 'module.' prefix (DataParallel) from ${prefixed.length} keys`);
    sd = new Map([...sd].map(([k, t]) => [k.slice('module.'.length), t]));
  }
  file.stateDict = sd;
  return file;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? `an object (${v.constructor.name})` : `a ${typeof v}`;
}


// ---------- whole pickled modules ----------

/** The module and its descendants in the order of PyTorch's named_modules() (pre-order). */
function namedModules(root: PyObject, path: string): [string, PyObject][] {
  const out: [string, PyObject][] = [];
  const stack: [string, unknown][] = [['', root]];
  while (stack.length > 0) {
    const [name, m] = stack.pop()!;
    if (out.length > 100_000) throw new Error(`${path}: more than 100000 modules`);
    const children = m instanceof PyObject && m.state instanceof Map ? m.state.get('_modules') : undefined;
    if (!(m instanceof PyObject) || !(children instanceof Map)) throw new Error(`${path}: '${name}' is not a pickled nn.Module`);
    out.push([name, m]);
    const kids = [...children].filter(([, c]) => c !== null).map(([k, c]): [string, unknown] => [name ? `${name}.${k}` : String(k), c]);
    stack.push(...kids.reverse());
  }
  return out;
}

const CONV = 'torch.nn.modules.conv.Conv2d';
const BN = 'torch.nn.modules.batchnorm.BatchNorm2d';
const LINEAR = 'torch.nn.modules.linear.Linear';

/** The authors' models.ResNet (Rebuffi's ResNet-26: pre_layers_conv, layer1..3, end_bns, linears). */
function isRebuffiModule(m: PyObject, path: string): boolean {
  const children = (m.state as Map<string, unknown>).get('_modules') as Map<string, unknown>;
  const isIt = m.className.endsWith('.ResNet') && children.has('pre_layers_conv');
  if (isIt || !m.className.endsWith('.ResNet')) return isIt;
  if (children.has('parallel_blocks')) {
    throw new Error(`${path}: a SpotTune model of the authors' spottune_models.py (two branches, blocks and parallel_blocks), not a pre-trained ResNet-26; give the pre-trained network (their resnet26_pretrained.t7)`);
  }
  return false;
}

function param(m: PyObject, name: string, path: string, where: string): RawTensor {
  const state = m.state as Map<string, unknown>;
  const t = (state.get('_parameters') as Map<string, unknown>)?.get(name) ?? (state.get('_buffers') as Map<string, unknown>)?.get(name);
  if (!isRawTensor(t)) throw new Error(`${path}: '${where}' has no tensor '${name}'`);
  return t;
}

/** Our names for the convolutions and batch norms of a ResNet-26-family network with n blocks per stage, in module order. */
export function rebuffiOrder(n: number): { convs: string[]; bns: string[] } {
  const convs = ['conv1'];
  const bns = ['bn1'];
  for (let s = 1; s <= 3; s++) {
    for (let b = 0; b < n; b++) {
      convs.push(`layer${s}.${b}.conv1`, `layer${s}.${b}.conv2`);
      bns.push(`layer${s}.${b}.bn1`, `layer${s}.${b}.bn2`);
    }
  }
  bns.push('bn2');
  return { convs, bns };
}

function rebuffiStateDict(root: PyObject, path: string): StateDict {
  const modules = namedModules(root, path);
  const convs = modules.filter(([, m]) => m.className === CONV);
  const bns = modules.filter(([, m]) => m.className === BN);
  const linears = modules.filter(([, m]) => m.className === LINEAR);
  const n = (convs.length - 1) / 6;
  if (!Number.isInteger(n) || n < 1 || bns.length !== convs.length + 1 || linears.length < 1) {
    throw new Error(
      `${path}: the module tree ${root.className} is not a Rebuffi ResNet-26: it has ${convs.length} Conv2d, ${bns.length} BatchNorm2d and ${linears.length} Linear; ` +
        'a ResNet of depth 6n+2 (26: n = 4) has 6n+1, 6n+2 and at least 1 (adapter modes other than the plain network are not supported)',
    );
  }
  const order = rebuffiOrder(n);
  const sd: StateDict = new Map();
  convs.forEach(([where, m], i) => sd.set(`${order.convs[i]}.weight`, param(m, 'weight', path, where)));
  bns.forEach(([where, m], i) => {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) sd.set(`${order.bns[i]}.${k}`, param(m, k, path, where));
    // PyTorch 0.4.0 had no num_batches_tracked; it only matters for momentum=None
    const buffers = (m.state as Map<string, unknown>).get('_buffers') as Map<string, unknown>;
    const tracked = buffers.get('num_batches_tracked');
    sd.set(`${order.bns[i]}.num_batches_tracked`, isRawTensor(tracked) ? tracked : { dtype: 'int64', shape: [], data: new Uint8Array(8) });
  });
  // their multi-task network has one classifier per task: the first is the pre-training task's
  const [where, fc] = linears[0];
  sd.set('fc.weight', param(fc, 'weight', path, where));
  sd.set('fc.bias', param(fc, 'bias', path, where));
  return sd;
}

// ---------- which architecture a state dict fits ----------

export interface ArchGuess {
  arch: string;
  inChannels: number;
  /** Channel multiplier of the ResNet-26 family (1 = Rebuffi's). */
  width?: number;
  /** Classes of the classifier, absent for a headless backbone. */
  numClasses?: number;
}

const TORCHVISION: [string, boolean, number[]][] = [
  ['resnet18', false, [2, 2, 2, 2]],
  ['resnet34', false, [3, 4, 6, 3]],
  ['resnet50', true, [3, 4, 6, 3]],
  ['resnet101', true, [3, 4, 23, 3]],
  ['resnet152', true, [3, 8, 36, 3]],
];

/** The architecture of this library whose parameter names and block counts the state dict has, if any. */
export function guessArch(sd: ReadonlyMap<string, { shape: readonly number[] }>): ArchGuess | undefined {
  const conv1 = sd.get('conv1.weight');
  if (!conv1 || conv1.shape.length !== 4) return undefined;
  const blocks = (layer: number) => {
    let n = 0;
    while (sd.has(`layer${layer}.${n}.conv1.weight`)) n++;
    return n;
  };
  const counts = [1, 2, 3, 4].map(blocks);
  const fc = sd.get('fc.weight');
  const common = { inChannels: conv1.shape[1], ...(fc ? { numClasses: fc.shape[0] } : {}) };
  const bottleneck = sd.has('layer1.0.conv3.weight');
  const tv = TORCHVISION.find(([, b, c]) => b === bottleneck && c.every((x, i) => x === counts[i]));
  if (tv) return { arch: tv[0], ...common };
  if (counts[3] === 0 && !bottleneck && counts[0] > 0 && counts.slice(0, 3).every((c) => c === counts[0])) {
    const arch = counts[0] === 4 ? 'resnet26' : counts[0] === 6 ? 'resnet38' : undefined;
    if (arch) return { arch, width: conv1.shape[0] / 32, ...common };
  }
  return undefined;
}

/** "resnet50, 3 input channels, 1000 classes". */
export function describeGuess(g: ArchGuess): string {
  const width = g.width !== undefined && g.width !== 1 ? ` --width ${g.width}` : '';
  return `${g.arch}${width}, ${g.inChannels} input channel(s), ${g.numClasses === undefined ? 'no classifier (headless)' : `${g.numClasses} classes`}`;
}

// ---------- into a backbone ----------

export interface PretrainedSpec {
  arch: string;
  /** Classes of the target task: the new classifier's. */
  numClasses: number;
  inChannels: number;
  width?: number;
  /** The option that named the file, for messages: "--weights". */
  what: string;
  /** Where notes go (what was normalised or replaced). */
  log?: (line: string) => void;
  /** Keep the file's classifier instead of a new one (Co-Tuning). */
  keepClassifier?: boolean;
}

/**
 * A backbone of `spec.arch` holding the file's weights, with a new classifier for the target task.
 * `cache` keeps read files' tensors between calls (SpotTune loads the file twice); the caller disposes them.
 */
export function loadPretrained(path: string, spec: PretrainedSpec, cache = new Map<string, Map<string, Tensor>>()): Backbone {
  let sd = cache.get(path);
  const firstRead = !sd;
  if (!sd) {
    const file = readWeightsFile(path);
    for (const note of file.notes) spec.log?.(`${path}: ${note}`);
    sd = new Map([...file.stateDict].map(([k, r]) => [k, rawToTensor(r)]));
    cache.set(path, sd);
  }
  const fc = sd.get('fc.weight');
  if (spec.keepClassifier && !fc) throw new Error(`${spec.what} ${path} has no classifier (a headless backbone): this method needs the source classifier`);
  const net = createBackbone(spec.arch, { numClasses: fc?.shape[0] ?? spec.numClasses, inChannels: spec.inChannels, width: spec.width });
  const body = new Map([...sd].filter(([k]) => !k.startsWith('fc.')));
  const own = new Map([...net.stateDict()].filter(([k]) => !k.startsWith('fc.')));
  const bad: string[] = [];
  for (const [k, t] of own) {
    const v = body.get(k);
    if (!v) bad.push(`${k} (missing)`);
    else if (v.shape.join() !== t.shape.join()) bad.push(`${k} (expected [${t.shape.join(', ')}], got [${v.shape.join(', ')}])`);
  }
  for (const k of body.keys()) if (!own.has(k)) bad.push(`${k} (unexpected)`);
  if (bad.length > 0) {
    net.dispose();
    throw new Error(`${spec.what} ${path} does not fit ${target(spec)}: ${bad.length} tensor(s) differ (the file has ${body.size} besides the classifier, the network ${own.size}), e.g. ${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ', …' : ''}; ${likelyCause(sd, spec)}`);
  }
  net.loadStateDict(fc ? sd : body, { strict: Boolean(fc) });
  if (spec.keepClassifier) return net;
  if (firstRead) spec.log?.(fc ? `new head fc: ${fc.shape[0]} → ${spec.numClasses} classes (the file's classifier is not used)` : `${path} has no classifier (a headless backbone): new head fc with ${spec.numClasses} classes`);
  net.replaceClassifier(spec.numClasses);
  return net;
}

function target(spec: PretrainedSpec): string {
  return `--arch ${spec.arch}${spec.width !== undefined ? ` --width ${spec.width}` : ''} with ${spec.inChannels} input channel(s)`;
}

function likelyCause(sd: ReadonlyMap<string, Tensor>, spec: PretrainedSpec): string {
  const g = guessArch(sd);
  if (!g) return 'the file is not a ResNet of this library or torchvision (see `spottune inspect-weights`)';
  const holds = `the file holds a ${describeGuess(g)}`;
  if (g.arch !== spec.arch) return `${holds}: use --arch ${g.arch}${g.width !== undefined && g.width !== 1 ? ` --width ${g.width}` : ''}`;
  if (g.inChannels !== spec.inChannels) return `${holds}, the data has ${spec.inChannels}: input channels differ`;
  if (g.width !== undefined && g.width !== (spec.width ?? 1)) return `${holds}: use --width ${g.width}`;
  return holds;
}
