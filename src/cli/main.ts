#!/usr/bin/env node
// The `spottune` command. Flags are parsed here; the work is in commands.ts, imported only
// when a command runs, so `spottune --help` never loads libtorch.
import { Command, InvalidArgumentError, Option } from 'commander';
import { flagOf, type OptionSpec } from '../util/options.js';
import { TRAIN_OPTIONS } from '../train/options.js';
import { listMethods, type EvalRouting } from '../spottune/index.js';
import { launchedRank, threadsPerProcess } from './launcher_env.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
  return n;
};
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return n;
};
const ints = (name: string) => (v: string) => v.split(',').filter(Boolean).map(int(name));

/** A declared option as a flag: parsed and checked by its declaration; its default comes from makeConfig. */
function declaredOption(name: string, spec: OptionSpec<unknown>, note = spec.default !== undefined ? `default ${JSON.stringify(spec.default)}` : ''): Option {
  const o = new Option(`${flagOf(name, spec)}${spec.arg ? ` ${spec.arg}` : ''}`, `${spec.help}${note ? ` (${note})` : ''}`);
  if (spec.arg) {
    o.argParser((v: string) => {
      try {
        return spec.parse(v);
      } catch (e) {
        throw new InvalidArgumentError(`${flagOf(name, spec)}: ${(e as Error).message}`);
      }
    });
  }
  return o;
}

// The settings `pretrain` does not take: it trains from scratch, one network.
const TRANSFER_ONLY = ['method', 'weights', 'deeperArch', 'deeperWeights', 'lrAgent', 'weightDecayAgent'];
// Every method option once (methods share some), with the methods that take it.
const METHOD_OPTIONS = new Map<string, { spec: OptionSpec<unknown>; methods: string[]; defaults: string[] }>();
for (const m of listMethods()) {
  for (const [name, spec] of Object.entries(m.options)) {
    const entry = METHOD_OPTIONS.get(name) ?? { spec, methods: [], defaults: [] };
    entry.methods.push(m.name);
    // The first method's default, then any method whose default differs ("argmax; finetuned for spottune-finetuned").
    const value = JSON.stringify(spec.default);
    if (spec.default !== undefined && !entry.defaults.some((d) => d.split(' ')[0] === value)) entry.defaults.push(entry.defaults.length ? `${value} for ${m.name}` : value);
    METHOD_OPTIONS.set(name, entry);
  }
}

/** The declared training settings as flags (and the method options for `train`). */
function trainFlags(c: Command, transfer: boolean): Command {
  for (const [name, spec] of Object.entries(TRAIN_OPTIONS)) {
    if (!transfer && TRANSFER_ONLY.includes(name)) continue;
    const o = declaredOption(name, spec);
    if (name === 'data' || (transfer && name === 'method')) o.makeOptionMandatory();
    c.addOption(o);
  }
  if (transfer) for (const [name, { spec, defaults }] of METHOD_OPTIONS) c.addOption(declaredOption(name, spec, defaults.length ? `default ${defaults.join('; ')}` : ''));
  return c
    .option('--threads <n>', 'libtorch threads (default: all cores)', int('--threads'))
    .option('--nproc <n>', 'data-parallel: run n processes on this machine (--batch-size stays the global batch)', int('--nproc'))
    .option('--rank <r>', 'data-parallel: this process\'s rank (set by --nproc; by hand across machines; torchrun and PyTorchJob set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead)', int('--rank'))
    .option('--world-size <n>', 'data-parallel: number of processes in all', int('--world-size'))
    .option('--master-addr <host>', 'data-parallel: host of rank 0', '127.0.0.1')
    .option('--master-port <port>', 'data-parallel: port of rank 0 (default: 29500; a free one with --nproc)', int('--master-port'))
    .option('--dist-timeout <s>', 'data-parallel: seconds to wait for the other processes', num('--dist-timeout'), 300)
    .option('--resume', 'continue an interrupted run from <output>/last.pth')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the result as JSON');
}

/** The training settings and method options as flags of `sweep`: they set the sweep's base (a run keeps its method's options). */
function sweepFlags(c: Command): Command {
  for (const [name, spec] of Object.entries(TRAIN_OPTIONS)) if (!['method', 'data', 'seed'].includes(name)) c.addOption(declaredOption(name, spec));
  for (const [name, { spec }] of METHOD_OPTIONS) c.addOption(declaredOption(name, spec, ''));
  return c;
}

type Flags = Record<string, unknown>;

/** --device of the commands that open a trained run: any device, whichever one the run trained on. */
const runDevice = () => declaredOption('device', TRAIN_OPTIONS.device, 'default "cpu", whichever device the run trained on');

/**
 * The configuration fields given as flags (commander names a flag's value by its camel case,
 * --skip-nonfinite → skipNonfinite, so map back to the declared names). A method option that
 * the method does not take is an error.
 */
function configFrom(c: Command, f: Flags): Record<string, unknown> & { arch: string; data: string } {
  const out: Record<string, unknown> = {};
  const byFlag = new Map<string, string>();
  for (const [name, spec] of [...Object.entries(TRAIN_OPTIONS), ...[...METHOD_OPTIONS].map(([n, e]) => [n, e.spec] as const)]) byFlag.set(flagOf(name, spec), name);
  for (const o of c.options) {
    const name = byFlag.get(o.long ?? '');
    const value = f[o.attributeName()];
    if (name === undefined || value === undefined) continue;
    const entry = METHOD_OPTIONS.get(name);
    if (entry && f.method !== undefined && !entry.methods.includes(f.method as string)) {
      throw new InvalidArgumentError(`${o.long} does not apply to method ${f.method} (it is an option of ${entry.methods.join(', ')})`);
    }
    out[name] = value;
  }
  return out as Record<string, unknown> & { arch: string; data: string };
}

/** --nproc n (n > 1): this process only starts n workers and waits for them; returns true. */
async function launchWorkers(f: Flags): Promise<boolean> {
  if (f.nproc === undefined || f.nproc === 1) return false;
  if (f.rank !== undefined || f.worldSize !== undefined) throw new InvalidArgumentError('--nproc sets --rank and --world-size itself: give either --nproc or both of those');
  if (launchedRank()) throw new InvalidArgumentError('--nproc inside a launcher (RANK and WORLD_SIZE are set, e.g. by torchrun): let the launcher start the processes and leave out --nproc');
  if (!((f.nproc as number) > 1)) throw new InvalidArgumentError(`--nproc must be a positive integer, got ${f.nproc}`);
  const { launch } = await import('./launch.js');
  process.exitCode = await launch({ nproc: f.nproc as number, masterPort: f.masterPort as number | undefined, threads: f.threads as number | undefined });
  return true;
}

/** --rank/--world-size, or the variables of torchrun / PyTorchJob: this process is one rank of a data-parallel run. */
function distFrom(f: Flags) {
  if (f.rank === undefined && f.worldSize === undefined) {
    const env = launchedRank();
    if (!env) return undefined;
    return { rank: env.rank, worldSize: env.worldSize, masterAddr: env.masterAddr, masterPort: env.masterPort, storeServer: env.storeServer, storePrefix: env.storePrefix, timeoutMs: Math.round((f.distTimeout as number) * 1000) };
  }
  if (f.rank === undefined || f.worldSize === undefined) throw new InvalidArgumentError('--rank and --world-size go together');
  return { rank: f.rank as number, worldSize: f.worldSize as number, masterAddr: f.masterAddr as string, masterPort: (f.masterPort as number | undefined) ?? 29500, timeoutMs: Math.round((f.distTimeout as number) * 1000) };
}

function setThreads(f: Flags): void {
  // sharp decodes on libuv's thread pool (4 threads by default): at least one per loader worker, set before its first use.
  if (((f.workers as number | undefined) ?? 0) > 4) process.env.UV_THREADPOOL_SIZE ??= String(f.workers);
  if (f.threads !== undefined) process.env.SPOTTUNE_THREADS = String(f.threads);
  else if (process.env.SPOTTUNE_THREADS === undefined) {
    // Under torchrun, the processes of a machine share its cores (as with --nproc).
    const env = launchedRank();
    if (env && env.localWorldSize > 1) process.env.SPOTTUNE_THREADS = String(threadsPerProcess(env.localWorldSize));
  }
}

const program = new Command()
  .name('spottune')
  .description('SpotTune (adaptive fine-tuning, CVPR 2019) and its baselines, on libtorch')
  .showHelpAfterError();

trainFlags(program.command('pretrain').description('train a source model from scratch and save its weights (e.g. on Fashion-MNIST)'), false)
  .requiredOption('--output <dir>', 'run folder; weights go to <dir>/weights.safetensors')
  .action(async (f: Flags, c: Command) => {
    if (await launchWorkers(f)) return;
    setThreads(f);
    const { pretrainCommand } = await import('./commands.js');
    await pretrainCommand(configFrom(c, f), f.output as string, { quiet: f.quiet === true, json: f.json === true, resume: f.resume === true, dist: distFrom(f) });
  });

trainFlags(program.command('train').description('fine-tune with a method (SpotTune or a baseline) on a target dataset; a method\'s own options are listed by `spottune methods`'), true)
  .option('--output <dir>', 'run folder (default runs/<method>-<data>-s<seed>)')
  .action(async (f: Flags, c: Command) => {
    if (await launchWorkers(f)) return;
    setThreads(f);
    const { trainCommand } = await import('./commands.js');
    const output = (f.output as string | undefined) ?? `runs/${f.method}-${String(f.data).replace(/[:/]/g, '_')}-s${f.seed ?? 0}`;
    await trainCommand({ ...configFrom(c, f), method: f.method as string }, output, { quiet: f.quiet === true, json: f.json === true, resume: f.resume === true, dist: distFrom(f) });
  });

program.command('eval')
  .description('evaluate a trained run on its test set')
  .argument('<run>', 'run folder')
  .addOption(new Option('--checkpoint <which>', 'which checkpoint').choices(['best', 'last']).default('best'))
  .addOption(new Option('--routing <mode>', 'decisions: argmax, sample (the reference code), average (mean of 8 sampled routings), finetuned (only fine-tuned blocks), frozen').choices(['argmax', 'sample', 'average', 'finetuned', 'frozen']))
  .option('--no-routed', 'compute both branches of every block instead of only the chosen one')
  .addOption(runDevice())
  .option('--json', 'print JSON')
  .action(async (run: string, f: Flags) => {
    const { evalCommand } = await import('./commands.js');
    await evalCommand(run, { checkpoint: f.checkpoint as 'best', routing: f.routing as EvalRouting | undefined, routed: f.routed as boolean, device: f.device as string | undefined, json: f.json === true });
  });

program.command('check-data')
  .description('read every image of a dataset (both splits, on all cores) and list each one that cannot be used, with why')
  .requiredOption('--data <spec>', 'the dataset, as for train')
  .option('--image-size <n>', 'input side for natural-image datasets', int('--image-size'))
  .option('--quiet', 'no progress output')
  .option('--json', 'print JSON')
  .action(async (f: Flags) => {
    // sharp decodes on libuv's thread pool (4 threads by default): one per core, set before its first use.
    process.env.UV_THREADPOOL_SIZE ??= String((await import('node:os')).availableParallelism());
    const { checkDataCommand } = await import('./check_data_command.js');
    await checkDataCommand({ data: f.data as string, imageSize: f.imageSize as number | undefined, quiet: f.quiet === true, json: f.json === true });
  });

program.command('predict')
  .description('classify images with a trained run, showing the per-block policy')
  .argument('<images...>', 'image files (JPEG, PNG, WebP, ...)')
  .requiredOption('--run <dir>', 'run folder')
  .addOption(new Option('--checkpoint <which>', 'which checkpoint').choices(['best', 'last']).default('best'))
  .addOption(runDevice())
  .option('--json', 'print JSON')
  .action(async (images: string[], f: Flags) => {
    const { predictCommand } = await import('./commands.js');
    await predictCommand(images, f.run as string, { checkpoint: f.checkpoint as 'best', device: f.device as string | undefined, json: f.json === true });
  });

program.command('export')
  .description('write a trained run\'s model as ONNX (SpotTune: policy network and routing in the graph)')
  .argument('<run>', 'run folder')
  .addOption(new Option('--format <format>', 'file format').choices(['onnx']).default('onnx'))
  .option('--output <file>', 'where to write the model, e.g. model.onnx')
  .option('--web <dir>', 'also write a static web page that classifies dropped images with the model (onnxruntime-web)')
  .addOption(new Option('--checkpoint <which>', 'which checkpoint').choices(['best', 'last']).default('best'))
  .addOption(new Option('--routing <mode>', 'two-branch models: argmax (policy network), finetuned or frozen (every image on one branch); default: the run\'s').choices(['argmax', 'finetuned', 'frozen', 'sample']))
  .option('--verify [images]', 'run the exported model in onnxruntime and libtorch on the run\'s test images (default 100) and compare', int('--verify'))
  .option('--tolerance <x>', 'largest |Δlogit| --verify accepts', num('--tolerance'), 1e-4)
  .addOption(runDevice())
  .option('--json', 'print JSON')
  .action(async (run: string, f: Flags) => {
    const { exportCommand } = await import('./export_command.js');
    const verify = f.verify === true ? 100 : (f.verify as number | undefined);
    await exportCommand(run, { format: f.format as string, output: f.output as string | undefined, web: f.web as string | undefined, checkpoint: f.checkpoint as 'best', routing: f.routing as 'argmax' | undefined, verify, tolerance: f.tolerance as number, device: f.device as string | undefined, json: f.json === true });
  });

program.command('inspect-weights')
  .description('what a weights file holds (format, checkpoint keys or module tree, tensors, the --arch it fits)')
  .argument('<file>', '.pth, .pt, .t7 (torch.save) or .safetensors')
  .option('--json', 'print JSON')
  .action(async (file: string, f: Flags) => (await import('./inspect_command.js')).inspectWeightsCommand(file, f.json === true));

program.command('methods')
  .description('list the methods (SpotTune and the baselines)')
  .action(async () => (await import('./commands.js')).methodsCommand());

program.command('demo')
  .description('pre-train on Fashion-MNIST (cached), transfer to font letters with five methods, print the table, write the HTML report')
  .option('--output <dir>', 'folder of the demo\'s runs and report', 'runs/demo')
  .option('--jobs <n>', 'runs at a time', int('--jobs'))
  .addOption(declaredOption('device', TRAIN_OPTIONS.device))
  .addOption(declaredOption('precision', TRAIN_OPTIONS.precision, 'default "fp32"; the transfers only, the cached source model is fp32'))
  .action(async (f: Flags) => (await import('../experiments/demo.js')).demoCommand({
    output: f.output as string, jobs: f.jobs as number | undefined, device: f.device as string | undefined, precision: f.precision as 'fp32' | undefined,
  }));

sweepFlags(program.command('sweep'))
  .description('methods × datasets × seeds, each run in its own folder; re-running skips finished runs and resumes interrupted ones')
  .option('--config <file>', 'sweep JSON (see experiments/small.json); flags below override it')
  .option('--methods <list>', 'comma-separated methods', (v: string) => v.split(',').filter(Boolean))
  .option('--datasets <list>', 'comma-separated dataset specs', (v: string) => v.split(',').filter(Boolean))
  .option('--seeds <list>', 'comma-separated seeds (default 0)', ints('--seeds'))
  .option('--variants <list>', "comma-separated variants of the file to run (none: only the sweep's own runs)", (v: string) => v.split(',').filter(Boolean))
  .option('--output <dir>', 'sweep folder (default runs/<config name>)')
  .option('--jobs <n>', 'runs at a time, each a child process', int('--jobs'), 1)
  .option('--threads <n>', 'libtorch threads per run (default: cores / jobs)', int('--threads'))
  .action(async (f: Flags, c: Command) => {
    const base = configFrom(c, f);
    const { sweepCommand } = await import('../experiments/commands.js');
    await sweepCommand({
      config: f.config as string | undefined, methods: f.methods as string[] | undefined, datasets: f.datasets as string[] | undefined, seeds: f.seeds as number[] | undefined, variants: f.variants as string[] | undefined,
      base, output: f.output as string | undefined, jobs: f.jobs as number, threads: f.threads as number | undefined,
    });
  });

program.command('table')
  .description('accuracy mean ± std over seeds per method and dataset, paired differences against fine-tuning, training cost')
  .argument('<runs-dir>', 'a sweep folder (or any folder of runs)')
  .addOption(new Option('--format <kind>', 'output format').choices(['markdown', 'csv', 'latex']).default('markdown'))
  .option('--policy', 'also the policy statistics (entropy, agreement, decisions off the majority) and the fine-tuned blocks per dataset')
  .action(async (dir: string, f: Flags) => (await import('../experiments/commands.js')).tableCommand(dir, f.format as 'markdown', f.policy === true));

program.command('report')
  .description('one self-contained HTML file: training curves, the comparison, the learned policy')
  .argument('<runs-dir>', 'a sweep folder (or any folder of runs)')
  .option('--output <file>', 'HTML file', 'report.html')
  .action(async (dir: string, f: Flags) => (await import('../experiments/commands.js')).reportCommand(dir, f.output as string));

program.command('decathlon-score')
  .description('Visual Decathlon score S from accuracies (aircraft=60.3 dtd=55.5 ...) or per method of a runs folder')
  .argument('<input...>', '<dataset>=<accuracy %> pairs, or one runs folder')
  .option('--baseline <method|file.json>', "with a runs folder: score every dataset against this method's mean accuracy in the folder (e.g. finetune), or a JSON file {dataset: accuracy}")
  .option('--json', 'print JSON')
  .action(async (input: string[], f: Flags) => (await import('../experiments/commands.js')).decathlonScoreCommand(input, f.json === true, f.baseline as string | undefined));

program.parseAsync().catch((e: Error) => {
  process.stderr.write(`spottune: ${e.message}\n`);
  process.exit(1);
});
