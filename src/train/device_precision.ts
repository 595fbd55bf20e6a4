// Where a run computes and in what precision: the device (cpu, cuda, cuda:N) checked before any
// work, the forward pass under autocast (bf16, fp16) and, for fp16, dynamic loss scaling. The
// weights, optimizer state and batch-norm statistics stay float32 in every precision.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { GradScaler, type GradScalerState, type Optimizer } from '../optim/index.js';

export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * The run's device ('cuda' → 'cuda:0'), or an error naming what is missing, before any work:
 * a CUDA device without a CUDA libtorch or a GPU; fp16 on the CPU.
 */
export function checkDevicePrecision(device: string, precision: Precision): string {
  if (!PRECISIONS.includes(precision)) throw new Error(`--precision: expected one of ${PRECISIONS.join(', ')}, got '${precision}'`);
  const d = torch.checkDevice(device, '--device');
  if (precision === 'fp16' && d === 'cpu') {
    throw new Error(`--precision fp16 needs a GPU: libtorch's CPU autocast runs bfloat16 only (libtorch ${torch.libtorchVersion()}), and float16 brings a CPU no speed. ` +
      'On the CPU use --precision bf16 (AVX512-BF16 CPUs run it natively); fp16 with --device cuda');
  }
  return d;
}

/** A CUDA out-of-memory error rewritten to name the batch size and a smaller one; others unchanged. */
export function explainOutOfMemory(e: unknown, batchSize: number, device: string): unknown {
  if (!(e instanceof Error) || !/out of memory/i.test(e.message) || !device.startsWith('cuda')) return e;
  return new Error(`${device} ran out of memory at batch size ${batchSize}: try --batch-size ${Math.max(1, Math.floor(batchSize / 2))} ` +
    `(libtorch: ${e.message.split('\n')[0]})`);
}

/** The forward pass's precision and the loss scaling of one run. */
export class MixedPrecision {
  readonly scaler: GradScaler;

  constructor(readonly device: string, readonly precision: Precision) {
    this.scaler = new GradScaler({ enabled: precision === 'fp16' });
  }

  /** Runs fn (forward pass and loss) under autocast; in fp32 as it is. */
  forward<T>(fn: () => T): T {
    if (this.precision === 'fp32') return fn();
    return torch.autocast(fn, { device: this.device, dtype: this.precision === 'bf16' ? 'bfloat16' : 'float16' });
  }

  /** Backward of the loss, scaled in fp16 (once per micro-batch when gradients accumulate). */
  backward(loss: Tensor): void {
    this.scaler.scale(loss).backward();
  }

  /**
   * Every optimizer's gradients unscaled, so what reads them next (the finiteness check, the
   * all-reduce, the optimizers) sees true gradients. Returns false when fp16 gradients overflowed:
   * the step is to be skipped (step() does) and the scale backs off.
   */
  unscale(opts: readonly Optimizer<any, any>[]): boolean {
    for (const o of opts) this.scaler.unscale_(o);
    return !this.scaler.foundInf;
  }

  /** Steps every optimizer (none after an fp16 overflow) and updates the scale. */
  step(opts: readonly Optimizer<any, any>[]): void {
    for (const o of opts) this.scaler.step(o);
    this.scaler.update();
  }

  /** A step not taken for another reason (a NaN loss skipped, another process's overflow): the scale stays. */
  discard(): void {
    this.scaler.discard();
  }

  stateDict(): GradScalerState | undefined {
    return this.scaler.enabled ? this.scaler.stateDict() : undefined;
  }

  loadStateDict(s: GradScalerState | undefined): void {
    if (this.scaler.enabled && s) this.scaler.loadStateDict(s);
  }
}
