// Collectives between processes, on libtorch's c10d (a TCPStore rendezvous and Gloo over TCP),
// like torch.distributed. A thin layer over native/src/dist.cc: one process group per process;
// every call blocks until the collective is done, and fails with an Error (never hangs past the
// timeout) when a peer dies or stops answering.
import { native } from './native.js';
import type { Handle } from './native.js';
import type { Tensor } from './tensor.js';

export type ReduceOp = 'sum' | 'product' | 'min' | 'max';

export interface ProcessGroupOptions {
  rank: number;
  worldSize: number;
  /** Host of rank 0, which serves the rendezvous store. */
  masterAddr: string;
  masterPort: number;
  /** Bounds the rendezvous and every collective. Default 300,000 (5 minutes). */
  timeoutMs?: number;
  /**
   * Address this process listens on for its peers. Default: 127.0.0.1 when masterAddr is a
   * loopback address, else what the machine's hostname resolves to; the GLOO_SOCKET_IFNAME
   * environment variable (network interfaces, comma-separated) overrides both.
   */
  hostname?: string;
  /** Whether this process serves the rendezvous store. Default: rank 0 (false when a launcher such as torchrun serves it). */
  storeServer?: boolean;
  /** Key prefix in the store (torchrun's workers: /worker/attempt_<restart count>). */
  storePrefix?: string;
}

interface DistNative {
  distInit(o: Required<Omit<ProcessGroupOptions, 'hostname' | 'storeServer' | 'storePrefix'>> & Pick<ProcessGroupOptions, 'hostname' | 'storeServer' | 'storePrefix'>): void;
  allReduce(tensors: Handle[], op: ReduceOp): void;
  broadcast(tensors: Handle[], root: number): void;
  barrier(): void;
  distDestroy(): void;
}

const dist = (): DistNative => native() as unknown as DistNative;

export class ProcessGroup {
  private destroyed = false;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  /** Joins the group: returns once all worldSize processes have joined, or throws after the timeout. */
  static init(o: ProcessGroupOptions): ProcessGroup {
    dist().distInit({ rank: o.rank, worldSize: o.worldSize, masterAddr: o.masterAddr, masterPort: o.masterPort, timeoutMs: o.timeoutMs ?? 300_000, hostname: o.hostname, storeServer: o.storeServer, storePrefix: o.storePrefix });
    return new ProcessGroup(o.rank, o.worldSize);
  }

  /** Reduces each tensor over all processes, in place (same shapes and one dtype on every rank). */
  allReduce(tensors: Tensor[], op: ReduceOp = 'sum'): void {
    this.check();
    dist().allReduce(tensors.map((t) => t.handle), op);
  }

  /** Copies each tensor of rank `root` into the same tensor of every other rank, in place. */
  broadcast(tensors: Tensor[], root = 0): void {
    this.check();
    dist().broadcast(tensors.map((t) => t.handle), root);
  }

  /** Returns once every process has called barrier(). */
  barrier(): void {
    this.check();
    dist().barrier();
  }

  /** Leaves the group (its sockets close); a new one can be created afterwards. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    dist().distDestroy();
  }

  private check(): void {
    if (this.destroyed) throw new Error('ProcessGroup: used after destroy()');
  }
}
