// Data-parallel training over processes (like PyTorch's DistributedDataParallel, on the same
// c10d/Gloo): every process holds the whole model, trains on its own slice of each batch, and
// the gradients are averaged before every optimizer step, so all processes take the same step.
//
// - Batches: `batchSize` is the global batch. Each epoch's shuffled order (seeded, the same on
//   every rank) is cut into global batches exactly as in one process; rank r takes the r-th
//   equal slice of each. With batch norm out of the picture, N processes therefore compute the
//   gradients of the single-process run (up to float rounding).
// - Gradients: one flat buffer, one all-reduce per step, weighted by each rank's image count.
// - Batch norm: each rank normalises with its own slice's statistics (as DDP does by default);
//   the running statistics are averaged over the ranks at the end of every epoch, before
//   evaluation and the checkpoint.
// - Randomness inside the model (Gumbel noise, coin flips) is seeded per rank and epoch, so the
//   ranks draw different noise for different images.
// - Evaluation is sharded and its counts summed; only rank 0 writes files.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { isFloating } from '../torch/index.js';
import { ProcessGroup, type ProcessGroupOptions } from '../torch/distributed.js';
import type { Module } from '../nn/index.js';
import { DataLoader, type LoaderOptions } from '../data/index.js';
import type { Dataset } from '../data/index.js';
import type { Pipeline } from '../data/transforms.js';
import { mixSeed } from '../util/rng.js';

/**
 * Rank r's part of an epoch's order: the r-th of `worldSize` equal slices of every global batch
 * (a last, smaller batch is split as evenly as possible; with dropLast it is left out).
 */
export function shardOrder(order: Int32Array, globalBatch: number, rank: number, worldSize: number, dropLast: boolean): Int32Array {
  const n = dropLast ? order.length - (order.length % globalBatch) : order.length;
  const out: number[] = [];
  for (let start = 0; start < n; start += globalBatch) {
    const m = Math.min(globalBatch, n - start);
    const from = start + Math.floor((rank * m) / worldSize);
    const to = start + Math.floor(((rank + 1) * m) / worldSize);
    for (let i = from; i < to; i++) out.push(order[i]);
  }
  return Int32Array.from(out);
}

/** A loader over one rank's shard: `order` picks the shard from the epoch's full order. */
class ShardLoader extends DataLoader {
  constructor(
    dataset: Dataset,
    transform: Pipeline,
    options: LoaderOptions,
    private readonly pick: (order: Int32Array) => Int32Array,
    private readonly batches: number,
  ) {
    super(dataset, transform, options);
  }

  override order(epoch: number): Int32Array {
    return this.pick(super.order(epoch));
  }

  override get length(): number {
    return this.batches;
  }
}

export class Distributed {
  readonly rank: number;
  readonly worldSize: number;
  /** Rank 0: the process that writes checkpoints, metrics and results. */
  readonly isMain: boolean;

  constructor(private readonly group: ProcessGroup) {
    this.rank = group.rank;
    this.worldSize = group.worldSize;
    this.isMain = group.rank === 0;
  }

  /** Joins the other processes (blocks until all have joined, or throws after the timeout). */
  static init(o: ProcessGroupOptions): Distributed {
    return new Distributed(ProcessGroup.init(o));
  }

  /** The training loader of this rank; `options.batchSize` is the global batch. */
  trainLoader(dataset: Dataset, transform: Pipeline, options: LoaderOptions): DataLoader {
    const { batchSize: global, dropLast = false } = options;
    const N = this.worldSize;
    if (global % N !== 0) throw new Error(`batch size ${global} is the global batch of ${N} processes: it must be a multiple of ${N}`);
    const n = dataset.length;
    const batches = dropLast ? Math.floor(n / global) : Math.ceil(n / global);
    const last = dropLast ? 0 : n % global;
    // Every rank must take part in every step's all-reduce, so none may get an empty slice.
    if (batches === 0 || (last > 0 && last < N)) {
      throw new Error(`the training set has ${n} images: with ${N} processes and batch size ${global}, some process would get an empty batch; use fewer processes`);
    }
    return new ShardLoader(dataset, transform, { ...options, batchSize: global / N }, (order) => shardOrder(order, global, this.rank, N, dropLast), batches);
  }

  /** An evaluation loader over this rank's contiguous share of the dataset (in order). */
  evalLoader(dataset: Dataset, transform: Pipeline, options: LoaderOptions): DataLoader {
    const n = dataset.length;
    const from = Math.floor((this.rank * n) / this.worldSize);
    const to = Math.floor(((this.rank + 1) * n) / this.worldSize);
    return new ShardLoader(dataset, transform, { ...options, shuffle: false }, (order) => order.subarray(from, to), Math.ceil((to - from) / options.batchSize));
  }

  /** Gives every rank rank 0's parameters and buffers (call once the model is built or resumed). */
  start(module: Module<any[], unknown>): void {
    this.group.broadcast([...module.parameters(), ...module.buffers()], 0);
  }

  /** Seeds libtorch's generator for an epoch, differently on each rank. */
  startEpoch(seed: number, epoch: number): void {
    if (this.worldSize > 1) torch.manualSeed(mixSeed(seed, this.rank, epoch));
  }

  /**
   * Replaces each gradient by the average over all ranks' images (`count` on this rank), in one
   * all-reduce. A rank whose loss was not finite passes finite = false (its gradients are not
   * used); then every rank gets false, clears the gradients, and should skip (or stop) together.
   * A parameter keeps no gradient when no rank computed one, as in a single process.
   */
  reduceGradients(params: Tensor[], count: number, finite: boolean): boolean {
    const P = params.length;
    const total = params.reduce((s, p) => s + p.numel, 0);
    if (params.some((p) => p.dtype !== 'float32')) throw new Error('reduceGradients: expected float32 parameters');
    return torch.noGrad(() =>
      torch.tidy(() => {
        // Per parameter: whether this rank has its gradient; then this rank's images, and non-finite ranks.
        const flags = new Float32Array(P + 2);
        const parts: Tensor[] = params.map((p, i) => {
          flags[i] = finite && p.grad ? 1 : 0;
          return finite && p.grad ? p.grad.flatten().mul(count) : torch.zeros([p.numel]);
        });
        flags[P] = finite ? count : 0;
        flags[P + 1] = finite ? 0 : 1;
        const flat = torch.cat([...parts, torch.tensor(flags)]);
        this.group.allReduce([flat]);
        const f = flat.narrow(0, total, P + 2).toArray();
        if (f[P + 1] > 0) {
          for (const p of params) p.grad = undefined;
          return false;
        }
        flat.div_(f[P]);
        let offset = 0;
        params.forEach((p, i) => {
          p.grad = f[i] > 0 ? flat.narrow(0, offset, p.numel).view(p.shape) : undefined;
          offset += p.numel;
        });
        return true;
      }),
    );
  }

  /** Element-wise sums of `values` over all ranks (float64). */
  sum(values: ArrayLike<number>): Float64Array {
    return torch.tidy(() => {
      const t = torch.tensor(Float64Array.from(values), { dtype: 'float64' });
      this.group.allReduce([t]);
      return Float64Array.from(t.toArray());
    });
  }

  /** Averages the floating-point buffers (batch-norm running statistics) over the ranks. */
  averageBuffers(module: Module<any[], unknown>): void {
    this.average(module.buffers());
  }

  /** Averages the floating-point tensors over the ranks, in place (one all-reduce). */
  average(tensors: Tensor[]): void {
    const buffers = tensors.filter((b) => isFloating(b.dtype));
    if (buffers.length === 0 || this.worldSize === 1) return;
    torch.noGrad(() =>
      torch.tidy(() => {
        const flat = torch.cat(buffers.map((b) => b.flatten()));
        this.group.allReduce([flat]);
        flat.div_(this.worldSize);
        let offset = 0;
        for (const b of buffers) {
          b.copy_(flat.narrow(0, offset, b.numel).view(b.shape));
          offset += b.numel;
        }
      }),
    );
  }

  /** Leaves the process group. */
  destroy(): void {
    this.group.destroy();
  }
}
