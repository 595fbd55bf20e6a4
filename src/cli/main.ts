#!/usr/bin/env node
// The `spottune` command. Flags are parsed here; the work is in commands.ts, imported only
// when a command runs, so `spottune --help` never loads libtorch.
import { Command, InvalidArgumentError, Option } from 'commander';
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
const nums = (name: string) => (v: string) => v.split(',').filter(Boolean).map(num(name));

/** Flags shared by train and pretrain, mapped to TrainConfig fields. */
function trainFlags(c: Command): Command {
  return c
    .option('--arch <name>', 'resnet18|34|50|101|152 (torchvision) or resnet26|38 (Rebuffi)', 'resnet26')
    .option('--width <x>', 'channel multiplier of resnet26/38', num('--width'))
    .requiredOption('--data <spec>', 'fashion-mnist, digits, glyphs[:latin,greek,cyrillic,hebrew,georgian,math,source], shapes, textures, fractals, imagefolder:<root>, cub:<root>, flowers:<root>, cars:<root>, decathlon:<root>:<name>, list:<root>:<train>:<test>')
    .option('--per-class <n>', 'low-data setting: n labelled training images per class', int('--per-class'))
    .option('--image-size <n>', 'input side (default: the source model\'s, else 28 for grey datasets, 224 for natural images)', int('--image-size'))
    .addOption(new Option('--channels <n>', 'input channels (default: the source model\'s, else the dataset\'s)').choices(['1', '3']).argParser(Number))
    .option('--mean <list>', 'normalisation mean per channel, e.g. 0.5 (default: the source model\'s, else the dataset\'s)', nums('--mean'))
    .option('--std <list>', 'normalisation std per channel (default: the source model\'s, else the dataset\'s)', nums('--std'))
    .option('--epochs <n>', 'epochs', int('--epochs'), 30)
    .option('--batch-size <n>', 'batch size', int('--batch-size'), 64)
    .option('--lr <x>', 'learning rate of the network', num('--lr'), 0.1)
    .option('--momentum <x>', 'SGD momentum', num('--momentum'), 0.9)
    .option('--weight-decay <x>', 'weight decay of the network', num('--weight-decay'), 5e-4)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule').choices(['multistep', 'cosine', 'constant']).default('multistep'))
    .option('--milestones <list>', 'multistep epochs (default: the reference code\'s 40/60/80 of 110, scaled)', ints('--milestones'))
    .option('--gamma <x>', 'multistep factor', num('--gamma'), 0.1)
    .option('--warmup-epochs <n>', 'linear warm-up epochs', int('--warmup-epochs'), 0)
    .option('--label-smoothing <x>', 'cross-entropy label smoothing', num('--label-smoothing'), 0)
    .option('--seed <n>', 'seed of initialisation, data order, augmentation and sampling', int('--seed'), 0)
    .option('--eval-every <n>', 'evaluate on the test set every n epochs (and after the last)', int('--eval-every'), 1)
    .option('--skip-nonfinite', 'skip batches whose loss is NaN/Inf instead of stopping')
    .option('--skip-bad-images', 'skip and count image files that cannot be read instead of stopping (list them first: spottune check-data)')
    .option('--accum-steps <n>', 'gradient accumulation: one optimizer step per n batches (effective batch n × --batch-size)', int('--accum-steps'))
    .option('--lr-backbone <x>', 'learning rate of every layer below the head (TLlib: 0.1 × --lr); SpotTune: the fine-tuned branch', num('--lr-backbone'))
    .option('--layer-decay <d>', 'layer-wise learning-rate decay: lr × d^(depth from the head) per block (timm)', num('--layer-decay'))
    .option('--ema <decay>', 'keep an exponential moving average of the weights (e.g. 0.9998), evaluated and saved as ema.pth', num('--ema'))
    .option('--patience <epochs>', 'stop when the test accuracy has not improved for this many epochs', int('--patience'))
    .option('--tensorboard', 'write TensorBoard event files to <output>/tb')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: cpu)')
    .addOption(new Option('--precision <p>', 'fp32, or autocast: bf16, fp16 (GPU, with loss scaling)').choices(['fp32', 'bf16', 'fp16']))
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

type Flags = Record<string, unknown>;
function configFrom(f: Flags) {
  return {
    arch: f.arch as string, width: f.width as number | undefined, data: f.data as string, perClass: f.perClass as number | undefined,
    imageSize: f.imageSize as number | undefined, channels: f.channels as 1 | 3 | undefined, mean: f.mean as number[] | undefined, std: f.std as number[] | undefined, epochs: f.epochs as number, batchSize: f.batchSize as number, lr: f.lr as number,
    momentum: f.momentum as number, weightDecay: f.weightDecay as number, schedule: f.schedule as 'multistep', milestones: f.milestones as number[] | undefined,
    gamma: f.gamma as number, warmupEpochs: f.warmupEpochs as number, labelSmoothing: f.labelSmoothing as number, seed: f.seed as number,
    evalEvery: f.evalEvery as number, skipNonFinite: f.skipNonfinite === true,
    skipBadImages: f.skipBadImages === true ? true : undefined,
    accumSteps: f.accumSteps as number | undefined, lrBackbone: f.lrBackbone as number | undefined, layerDecay: f.layerDecay as number | undefined,
    ema: f.ema as number | undefined, patience: f.patience as number | undefined, tensorboard: f.tensorboard === true ? true : undefined,
    // The defaults stay out of config.json, so runs from before these options resume unchanged.
    device: f.device === undefined || f.device === 'cpu' ? undefined : (f.device as string),
    precision: f.precision === undefined || f.precision === 'fp32' ? undefined : (f.precision as 'bf16' | 'fp16'),
  };
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

trainFlags(program.command('pretrain').description('train a source model from scratch and save its weights (e.g. on Fashion-MNIST)'))
  .requiredOption('--output <dir>', 'run folder; weights go to <dir>/weights.safetensors')
  .action(async (f: Flags) => {
    if (await launchWorkers(f)) return;
    setThreads(f);
    const { pretrainCommand } = await import('./commands.js');
    const c = configFrom(f);
    await pretrainCommand({ ...c, milestones: c.milestones }, f.output as string, { quiet: f.quiet === true, json: f.json === true, resume: f.resume === true, dist: distFrom(f) });
  });

trainFlags(program.command('train').description('fine-tune with a method (SpotTune or a baseline) on a target dataset'))
  .requiredOption('--method <name>', 'spottune, spottune-global-k, spottune-finetuned, finetune, feature-extractor, stochastic, last-1|2|3, random-policy, l2sp, finetune-deeper, scratch (see: spottune methods)')
  .option('--weights <file>', 'pre-trained source weights (.pth from torch.save, or .safetensors)')
  .option('--deeper-arch <name>', 'architecture of finetune-deeper')
  .option('--deeper-weights <file>', 'weights of finetune-deeper')
  .option('--lr-agent <x>', 'learning rate of the policy network', num('--lr-agent'), 0.01)
  .option('--weight-decay-agent <x>', 'weight decay of the policy network', num('--weight-decay-agent'), 1e-3)
  .option('--tau <x>', 'Gumbel-softmax temperature', num('--tau'), 5)
  .option('--tau-anneal <rate,min>', 'anneal τ as τ·exp(−rate·epoch), not below min')
  .option('--k <n>', 'Global-k: blocks to fine-tune on average', num('--k'), 4)
  .option('--lambda1 <x>', 'Global-k: weight of (Σv − k)²', num('--lambda1'), 0.1)
  .option('--lambda2 <x>', 'Global-k: weight of the entropy term', num('--lambda2'), 0.1)
  .option('--l2sp-alpha <x>', 'L2-SP: pull toward the pre-trained weights', num('--l2sp-alpha'), 0.01)
  .option('--l2sp-beta <x>', 'L2-SP: decay of the new head', num('--l2sp-beta'), 0.01)
  .addOption(new Option('--l2sp-scope <which>', 'L2-SP: every backbone tensor, or conv/linear weights only').choices(['all', 'weights']).default('all'))
  .option('--bss-k <n>', 'BSS: smallest singular values penalised', int('--bss-k'), 1)
  .option('--bss-eta <x>', 'BSS: weight of the penalty', num('--bss-eta'), 0.001)
  .option('--delta-alpha <x>', 'DELTA: weight of the attention-weighted feature-map distance', num('--delta-alpha'), 0.01)
  .option('--delta-beta <x>', 'DELTA: weight of ½‖w‖² on the new head', num('--delta-beta'), 0.01)
  .option('--delta-alpha-sp <x>', 'DELTA: weight of L2-SP on the backbone (0 in the paper)', num('--delta-alpha-sp'), 0)
  .option('--co-tuning-lambda <x>', 'Co-Tuning: weight of the source-label loss', num('--co-tuning-lambda'), 2.3)
  .addOption(new Option('--frozen-bn <mode>', 'batch norm of the frozen blocks: train (reference code) or eval').choices(['train', 'eval']).default('train'))
  .addOption(new Option('--eval-routing <mode>', 'decisions at evaluation').choices(['argmax', 'sample', 'average', 'finetuned', 'frozen']).default('argmax'))
  .option('--agent-width <x>', 'channel multiplier of the policy network', num('--agent-width'), 1)
  .option('--agent-input-size <n>', 'resize images to this size for the policy network', int('--agent-input-size'))
  .option('--output <dir>', 'run folder (default runs/<method>-<data>-s<seed>)')
  .action(async (f: Flags) => {
    if (await launchWorkers(f)) return;
    setThreads(f);
    const { trainCommand } = await import('./commands.js');
    let tauAnneal: { rate: number; min: number } | undefined;
    if (f.tauAnneal) {
      const [rate, min] = String(f.tauAnneal).split(',').map(Number);
      if (!(rate >= 0) || !(min > 0)) throw new InvalidArgumentError('--tau-anneal expects <rate>,<min>, e.g. 0.05,0.5');
      tauAnneal = { rate, min };
    }
    const output = (f.output as string | undefined) ?? `runs/${f.method}-${String(f.data).replace(/[:/]/g, '_')}-s${f.seed}`;
    await trainCommand({
      ...configFrom(f),
      method: f.method as string, weights: f.weights as string | undefined, deeperArch: f.deeperArch as string | undefined, deeperWeights: f.deeperWeights as string | undefined,
      lrAgent: f.lrAgent as number, weightDecayAgent: f.weightDecayAgent as number,
      strategy: {
        tau: f.tau as number, tauAnneal, globalK: { k: f.k as number, lambda1: f.lambda1 as number, lambda2: f.lambda2 as number },
        l2sp: { alpha: f.l2spAlpha as number, beta: f.l2spBeta as number, scope: f.l2spScope as 'all' }, frozenBn: f.frozenBn as 'train',
        evalRouting: f.evalRouting as 'argmax', routed: true, agentWidth: f.agentWidth as number, agentInputSize: f.agentInputSize as number | undefined,
        bss: { k: f.bssK as number, eta: f.bssEta as number },
        // The attention's own settings keep their defaults (makeConfig merges per-method options).
        delta: { alpha: f.deltaAlpha as number, beta: f.deltaBeta as number, alphaSp: f.deltaAlphaSp as number } as never,
        coTuning: { lambda: f.coTuningLambda as number },
      },
    }, output, { quiet: f.quiet === true, json: f.json === true, resume: f.resume === true, dist: distFrom(f) });
  });

program.command('eval')
  .description('evaluate a trained run on its test set')
  .argument('<run>', 'run folder')
  .addOption(new Option('--checkpoint <which>', 'which checkpoint').choices(['best', 'last']).default('best'))
  .addOption(new Option('--routing <mode>', 'decisions: argmax, sample (the reference code), average (mean of 8 sampled routings), finetuned (only fine-tuned blocks), frozen').choices(['argmax', 'sample', 'average', 'finetuned', 'frozen']))
  .option('--no-routed', 'compute both branches of every block instead of only the chosen one')
  .option('--json', 'print JSON')
  .action(async (run: string, f: Flags) => {
    const { evalCommand } = await import('./commands.js');
    await evalCommand(run, { checkpoint: f.checkpoint as 'best', routing: f.routing as string | undefined, routed: f.routed as boolean, json: f.json === true });
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
  .option('--json', 'print JSON')
  .action(async (images: string[], f: Flags) => {
    const { predictCommand } = await import('./commands.js');
    await predictCommand(images, f.run as string, { checkpoint: f.checkpoint as 'best', json: f.json === true });
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
  .option('--json', 'print JSON')
  .action(async (run: string, f: Flags) => {
    const { exportCommand } = await import('./export_command.js');
    const verify = f.verify === true ? 100 : (f.verify as number | undefined);
    await exportCommand(run, { format: f.format as string, output: f.output as string | undefined, web: f.web as string | undefined, checkpoint: f.checkpoint as 'best', routing: f.routing as 'argmax' | undefined, verify, tolerance: f.tolerance as number, json: f.json === true });
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
  .action(async (f: Flags) => (await import('../experiments/demo.js')).demoCommand({ output: f.output as string, jobs: f.jobs as number | undefined }));

program.command('sweep')
  .description('methods × datasets × seeds, each run in its own folder; re-running skips finished runs and resumes interrupted ones')
  .option('--config <file>', 'sweep JSON (see experiments/small.json); flags below override it')
  .option('--methods <list>', 'comma-separated methods', (v: string) => v.split(',').filter(Boolean))
  .option('--datasets <list>', 'comma-separated dataset specs', (v: string) => v.split(',').filter(Boolean))
  .option('--seeds <list>', 'comma-separated seeds (default 0)', ints('--seeds'))
  .option('--variants <list>', "comma-separated variants of the file to run (none: only the sweep's own runs)", (v: string) => v.split(',').filter(Boolean))
  .option('--arch <name>', 'architecture')
  .option('--width <x>', 'channel multiplier of resnet26/38', num('--width'))
  .option('--weights <file>', 'pre-trained source weights')
  .option('--per-class <n>', 'labelled training images per class', int('--per-class'))
  .option('--epochs <n>', 'epochs', int('--epochs'))
  .option('--batch-size <n>', 'batch size', int('--batch-size'))
  .option('--lr <x>', 'learning rate of the network', num('--lr'))
  .option('--lr-agent <x>', 'learning rate of the policy network', num('--lr-agent'))
  .option('--eval-every <n>', 'evaluate every n epochs (and after the last)', int('--eval-every'))
  .option('--skip-bad-images', 'skip and count image files that cannot be read (see check-data)')
  .option('--output <dir>', 'sweep folder (default runs/<config name>)')
  .option('--jobs <n>', 'runs at a time, each a child process', int('--jobs'), 1)
  .option('--threads <n>', 'libtorch threads per run (default: cores / jobs)', int('--threads'))
  .action(async (f: Flags) => {
    const keys = ['arch', 'width', 'weights', 'perClass', 'epochs', 'batchSize', 'lr', 'lrAgent', 'evalEvery', 'skipBadImages'];
    const base = Object.fromEntries(keys.filter((k) => f[k] !== undefined).map((k) => [k, f[k]]));
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
