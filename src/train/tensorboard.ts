// --tensorboard: each epoch's metrics as TensorBoard scalars in <output>/tb/ (one event file per
// start of the run; `tensorboard --logdir <output>/tb`). Step = epochs done (1 after the first).
import { join } from 'node:path';
import { EventWriter } from '../io/tfevents.js';
import type { EpochMetrics } from './engine.js';

/** The scalars of one epoch, by tag. */
export function epochScalars(m: EpochMetrics): Record<string, number> {
  const s: Record<string, number> = {
    'train/loss': m.trainLoss,
    'train/accuracy': m.trainAcc,
    'lr/net': m.lr,
    images_per_sec: m.imagesPerSec,
  };
  if (m.lrAgent !== undefined) s['lr/agent'] = m.lrAgent;
  if (m.tau !== undefined) s.tau = m.tau;
  if (m.testAcc !== null) s['test/accuracy'] = m.testAcc;
  if (m.testTop5 !== null) s['test/top5'] = m.testTop5;
  if (m.emaTestAcc != null) s['test/ema_accuracy'] = m.emaTestAcc;
  m.trainBlockFreq.forEach((f, l) => (s[`finetune_freq/train/block${l + 1}`] = f));
  m.blockFreq?.forEach((f, l) => (s[`finetune_freq/test/block${l + 1}`] = f));
  return s;
}

export class TensorBoardLog {
  private readonly writer: EventWriter;

  constructor(output: string) {
    this.writer = new EventWriter(join(output, 'tb'));
  }

  epoch(m: EpochMetrics): void {
    this.writer.scalars(m.epoch + 1, epochScalars(m));
    this.writer.flush();
  }

  close(): void {
    this.writer.close();
  }
}
