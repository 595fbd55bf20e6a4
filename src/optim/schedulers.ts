// Learning-rate schedules, as PyTorch 1.13's lr_scheduler (same chainable formulas, so the
// same learning rates to the last bit of float arithmetic). Construction sets the first
// rate; call step() after each optimizer.step() of an epoch (or iteration, for warm-up).
import type { Optimizer } from './optimizer.js';

export interface SchedulerState {
  lastEpoch: number;
  lastLr: number[];
  /** Per group: the rate each schedule starts from. */
  baseLrs?: number[];
  /** SequentialLR: the state of each of its schedules. */
  schedulers?: SchedulerState[];
}

export interface Scheduler {
  step(): void;
  /** The learning rate of each parameter group after the last step(). */
  getLastLr(): number[];
  stateDict(): SchedulerState;
  /** Restores a state, and the groups' learning rates with it (so it may come before or after the optimizer's). */
  loadStateDict(sd: SchedulerState): void;
}

type Groups = Optimizer['paramGroups'];

function setLrs(groups: Groups, lrs: readonly number[]): void {
  groups.forEach((g, i) => (g.lr = lrs[i]));
}

/** The number of sorted values <= x (Python's bisect_right). */
function bisectRight(sorted: readonly number[], x: number): number {
  let n = 0;
  while (n < sorted.length && sorted[n] <= x) n++;
  return n;
}

/**
 * A schedule in PyTorch's chainable form: getLr() derives the next rates from the current
 * ones. Subclasses set their fields, then call this.step() to set the epoch-0 rates.
 */
export abstract class LRScheduler implements Scheduler {
  /** Epochs stepped so far (0 after construction). */
  lastEpoch = -1;
  baseLrs: number[];
  protected lastLr: number[] = [];

  constructor(readonly optimizer: Optimizer) {
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr as number);
  }

  protected get groups(): Groups {
    return this.optimizer.paramGroups;
  }

  /** The rates at lastEpoch, from the groups' current rates. */
  protected abstract getLr(): number[];
  /** The rates at lastEpoch, from baseLrs alone. */
  protected abstract closedFormLr(): number[];

  step(): void {
    this.lastEpoch += 1;
    this.apply(this.getLr());
  }

  /** Starts over at epoch 0 from the base rates (what SequentialLR does at a milestone). */
  restart(): void {
    this.lastEpoch = 0;
    this.apply(this.closedFormLr());
  }

  private apply(lrs: number[]): void {
    setLrs(this.groups, lrs);
    this.lastLr = this.groups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  loadStateDict(sd: SchedulerState): void {
    const n = this.groups.length;
    if (sd.baseLrs?.length !== n || sd.lastLr.length !== n) {
      throw new Error(`${this.constructor.name}.loadStateDict: expected baseLrs and lastLr for ${n} parameter groups, got ${sd.baseLrs?.length ?? 'no'} and ${sd.lastLr.length}`);
    }
    this.lastEpoch = sd.lastEpoch;
    this.baseLrs = [...sd.baseLrs];
    this.apply(sd.lastLr);
  }
}

/** Multiplies the rate by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly stepSize: number, readonly gamma = 0.1) {
    super(optimizer);
    if (!(Number.isInteger(stepSize) && stepSize > 0)) throw new Error(`StepLR: stepSize must be a positive integer, got ${stepSize}`);
    this.step();
  }

  protected getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((lr) => lr * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** Multiplies the rate by gamma at each milestone epoch (twice at a milestone listed twice). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  private readonly counts = new Map<number, number>();

  constructor(optimizer: Optimizer, milestones: readonly number[], readonly gamma = 0.1) {
    super(optimizer);
    this.milestones = [...milestones].sort((a, b) => a - b);
    for (const m of milestones) this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
    this.step();
  }

  protected getLr(): number[] {
    const n = this.counts.get(this.lastEpoch);
    if (n === undefined) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * this.gamma ** n);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((lr) => lr * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }
}

/** Anneals from the base rate to etaMin along half a cosine over tMax epochs (then back up, periodically). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly tMax: number, readonly etaMin = 0) {
    super(optimizer);
    if (!(tMax > 0)) throw new Error(`CosineAnnealingLR: tMax must be positive, got ${tMax}`);
    this.step();
  }

  protected getLr(): number[] {
    const { lastEpoch: e, tMax: T, etaMin } = this;
    if (e === 0) return this.groups.map((g) => g.lr);
    if ((e - 1 - T) % (2 * T) === 0) {
      return this.groups.map((g, i) => g.lr + (this.baseLrs[i] - etaMin) * (1 - Math.cos(Math.PI / T)) / 2);
    }
    return this.groups.map((g) => (1 + Math.cos(Math.PI * e / T)) / (1 + Math.cos(Math.PI * (e - 1) / T)) * (g.lr - etaMin) + etaMin);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((lr) => this.etaMin + (lr - this.etaMin) * (1 + Math.cos(Math.PI * this.lastEpoch / this.tMax)) / 2);
  }
}

/** Scales the rate linearly from startFactor to endFactor over totalIters steps: a warm-up. */
export class LinearLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly startFactor = 1 / 3, readonly endFactor = 1, readonly totalIters = 5) {
    super(optimizer);
    if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`LinearLR: startFactor must be in (0, 1], got ${startFactor}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new Error(`LinearLR: endFactor must be in [0, 1], got ${endFactor}`);
    this.step();
  }

  protected getLr(): number[] {
    const { lastEpoch: e, startFactor: s, endFactor: f, totalIters: n } = this;
    if (e === 0) return this.groups.map((g) => g.lr * s);
    if (e > n) return this.groups.map((g) => g.lr);
    return this.groups.map((g) => g.lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))));
  }

  protected closedFormLr(): number[] {
    const { lastEpoch: e, startFactor: s, endFactor: f, totalIters: n } = this;
    return this.baseLrs.map((lr) => lr * (s + (f - s) * Math.min(n, e) / n));
  }
}

/**
 * Runs schedules one after another: schedulers[i] from epoch milestones[i-1] on, each
 * restarting from the base rates (e.g. LinearLR warm-up, then CosineAnnealingLR).
 * Build the schedules on the same optimizer just before this; it takes them over.
 */
export class SequentialLR implements Scheduler {
  lastEpoch = 0;
  private lastLr: number[];

  constructor(readonly optimizer: Optimizer, readonly schedulers: LRScheduler[], readonly milestones: number[]) {
    if (schedulers.length === 0) throw new Error('SequentialLR: needs at least one scheduler');
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) throw new Error(`SequentialLR: scheduler ${i} belongs to another optimizer`);
    });
    if (milestones.length !== schedulers.length - 1) {
      throw new Error(`SequentialLR: expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones.length}`);
    }
    // Undo the first step each schedule took when it was built, then take it again for the first only.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr as number;
    for (const s of schedulers) s.lastEpoch -= 1;
    schedulers[0].step();
    this.lastLr = schedulers[0].getLastLr();
  }

  step(): void {
    this.lastEpoch += 1;
    const i = bisectRight(this.milestones, this.lastEpoch);
    const s = this.schedulers[i];
    if (i > 0 && this.milestones[i - 1] === this.lastEpoch) s.restart();
    else s.step();
    this.lastLr = s.getLastLr();
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, lastLr: [...this.lastLr], schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(sd: SchedulerState): void {
    if (sd.schedulers?.length !== this.schedulers.length) {
      throw new Error(`SequentialLR.loadStateDict: expected the states of ${this.schedulers.length} schedulers, got ${sd.schedulers?.length ?? 'none'}`);
    }
    sd.schedulers.forEach((s, i) => this.schedulers[i].loadStateDict(s));
    this.lastEpoch = sd.lastEpoch;
    this.lastLr = [...sd.lastLr];
    setLrs(this.optimizer.paramGroups, this.lastLr);
  }
}
