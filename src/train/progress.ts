// Progress on stderr: a bar with images/s and ETA on a terminal, a line per epoch otherwise.
import type { EpochMetrics } from './engine.js';
import type { BatchInfo } from './epoch.js';

const fmtTime = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly start = performance.now();

  constructor(private readonly epochs: number, private readonly quiet: boolean, private readonly label = '') {}

  batch(b: BatchInfo): void {
    if (this.quiet || !this.tty) return;
    const width = 24;
    const done = Math.round((width * b.step) / b.steps);
    const elapsed = (performance.now() - this.start) / 1000;
    const fraction = (b.epoch + b.step / b.steps) / this.epochs;
    const eta = fraction > 0 ? elapsed / fraction - elapsed : 0;
    const bar = '█'.repeat(done) + '░'.repeat(width - done);
    process.stderr.write(`\r${this.label}epoch ${b.epoch + 1}/${this.epochs} ${bar} ${b.step}/${b.steps} loss ${b.loss.toFixed(3)} ${b.imagesPerSec.toFixed(0)} img/s ETA ${fmtTime(eta)}   `);
  }

  epoch(m: EpochMetrics): void {
    if (this.quiet) return;
    const freq = m.blockFreq ?? m.trainBlockFreq;
    const tuned = freq.reduce((a, b) => a + b, 0);
    const test = m.testAcc === null ? '' : `, test ${m.testAcc.toFixed(2)}% (top-5 ${(m.testTop5 ?? 0).toFixed(1)}%)`;
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${this.label}epoch ${m.epoch + 1}/${this.epochs}: loss ${m.trainLoss.toFixed(4)}, train ${m.trainAcc.toFixed(1)}%${test}, ${tuned.toFixed(1)}/${freq.length} blocks fine-tuned, ${m.imagesPerSec.toFixed(0)} img/s, ${m.seconds.toFixed(1)} s\n`);
  }
}
