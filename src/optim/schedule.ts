// Learning-rate schedules of the paper, each with a state that a checkpoint saves and restores:
//
//   multistep  CIFAR (Sec. 4.2): lr 0.1, divided by 10 at 32k and 48k iterations, stop at 64k.
//   plateau    ImageNet (Sec. 3.4): lr 0.1, "divided by 10 when the error plateaus": here, when
//              the validation error has not improved for `patience` evaluations in a row.
//   warm-up    ResNet-110 (Sec. 4.2): lr 0.01 "until the training error is below 80% (about 400
//              iterations), and then go back to 0.1"; wraps either schedule above.
//
// The training loop drives a schedule with three calls: `lr` before each step (the value to
// give the optimizer), `afterStep(trainError)` after it (the batch's training error, for the
// warm-up), `afterEval(valError)` after each validation (for plateau). `state()` is plain JSON.

export interface MultiStepSpec {
  kind: 'multistep';
  lr: number;
  /** Iterations (0-based step counts) at which lr is multiplied by `gamma`, ascending. */
  milestones: number[];
  gamma?: number; // default 0.1
}

export interface PlateauSpec {
  kind: 'plateau';
  lr: number;
  /** Evaluations without improvement after which lr is multiplied by `gamma`. */
  patience: number;
  gamma?: number; // default 0.1
  /** An evaluation improves when error < best − threshold (absolute, in error units). Default 0. */
  threshold?: number;
  /** lr never goes below this. Default 0. */
  minLr?: number;
}

export interface WarmupSpec {
  /** The warm-up learning rate (the paper: 0.01). */
  lr: number;
  /** Warm-up ends once the training error averaged over the last `window` steps is below this (the paper: 0.8). */
  untilTrainError: number;
  /** Steps averaged for the training error. Default 20: one batch of 128 is too noisy to judge. */
  window?: number;
  /** Warm-up ends after this many steps whatever the error (default: no limit). */
  maxIterations?: number;
}

export type ScheduleSpec = (MultiStepSpec | PlateauSpec) & { warmup?: WarmupSpec | null };

/** Everything a schedule needs to continue exactly where it was (JSON-safe). */
export interface ScheduleState {
  iteration: number;
  /** plateau: the current lr (after reductions), best error, evaluations since the best. */
  plateau?: { lr: number; best: number | null; badEvals: number; reductions: number };
  /** warm-up: whether it is still on, and the recent training errors. */
  warmup?: { active: boolean; recent: number[]; endedAt: number | null };
}

export class Schedule {
  readonly spec: ScheduleSpec;
  private iteration = 0;
  private plateau: NonNullable<ScheduleState['plateau']> | null = null;
  private warmup: NonNullable<ScheduleState['warmup']> | null = null;

  constructor(spec: ScheduleSpec) {
    validateSpec(spec);
    this.spec = spec;
    if (spec.kind === 'plateau') this.plateau = { lr: spec.lr, best: null, badEvals: 0, reductions: 0 };
    if (spec.warmup) this.warmup = { active: true, recent: [], endedAt: null };
  }

  /** The learning rate of the next step. */
  get lr(): number {
    if (this.warmup?.active) return this.spec.warmup!.lr;
    return this.baseLr();
  }

  /** The learning rate of the schedule proper, ignoring the warm-up. */
  baseLr(): number {
    const s = this.spec;
    if (s.kind === 'plateau') return this.plateau!.lr;
    const gamma = s.gamma ?? 0.1;
    let lr = s.lr;
    for (const m of s.milestones) if (this.iteration >= m) lr *= gamma;
    return lr;
  }

  /** Steps taken so far. */
  get iterations(): number {
    return this.iteration;
  }

  /** Whether the warm-up is still on. */
  get warmingUp(): boolean {
    return this.warmup?.active ?? false;
  }

  /** Call after each optimizer step, with that batch's training error (fraction in [0, 1]). */
  afterStep(trainError: number): void {
    this.iteration++;
    const w = this.warmup;
    if (!w?.active) return;
    const spec = this.spec.warmup!;
    const window = spec.window ?? 20;
    w.recent.push(trainError);
    if (w.recent.length > window) w.recent.shift();
    const mean = w.recent.reduce((a, b) => a + b, 0) / w.recent.length;
    const full = w.recent.length === window;
    if ((full && mean < spec.untilTrainError) || (spec.maxIterations !== undefined && this.iteration >= spec.maxIterations)) {
      w.active = false;
      w.endedAt = this.iteration;
      w.recent = [];
    }
  }

  /**
   * Call after each validation with its error. Returns true when this evaluation reduced lr
   * (plateau only; the other schedules ignore evaluations).
   */
  afterEval(valError: number): boolean {
    const p = this.plateau;
    if (!p) return false;
    const spec = this.spec as PlateauSpec;
    if (p.best === null || valError < p.best - (spec.threshold ?? 0)) {
      p.best = valError;
      p.badEvals = 0;
      return false;
    }
    p.badEvals++;
    if (p.badEvals < spec.patience) return false;
    const next = Math.max(p.lr * (spec.gamma ?? 0.1), spec.minLr ?? 0);
    p.badEvals = 0;
    if (next === p.lr) return false;
    p.lr = next;
    p.reductions++;
    return true;
  }

  /** When the warm-up ended (iteration), or null while it runs or when there is none. */
  get warmupEndedAt(): number | null {
    return this.warmup?.endedAt ?? null;
  }

  state(): ScheduleState {
    const s: ScheduleState = { iteration: this.iteration };
    if (this.plateau) s.plateau = { ...this.plateau };
    if (this.warmup) s.warmup = { ...this.warmup, recent: [...this.warmup.recent] };
    return s;
  }

  loadState(s: ScheduleState): void {
    if (!Number.isInteger(s.iteration) || s.iteration < 0) throw new Error(`schedule state: bad iteration ${s.iteration}`);
    if ((this.plateau === null) !== (s.plateau === undefined)) {
      throw new Error(`schedule state is for ${s.plateau ? 'a plateau' : 'a multistep'} schedule, this one is ${this.spec.kind}`);
    }
    if ((this.warmup === null) !== (s.warmup === undefined)) {
      throw new Error(`schedule state ${s.warmup ? 'has' : 'lacks'} a warm-up, this schedule ${this.warmup ? 'has one' : 'has none'}`);
    }
    this.iteration = s.iteration;
    if (s.plateau) this.plateau = { ...s.plateau };
    if (s.warmup) this.warmup = { ...s.warmup, recent: [...s.warmup.recent] };
  }
}

export function createSchedule(spec: ScheduleSpec): Schedule {
  return new Schedule(spec);
}

/**
 * Milestones at the same fractions of a run of `total` iterations as `milestones` are of
 * `reference` iterations: the CIFAR preset (32k, 48k of 64k) becomes 50% and 75% of any run.
 */
export function scaleMilestones(milestones: readonly number[], reference: number, total: number): number[] {
  return milestones.map((m) => Math.round((m / reference) * total));
}

function validateSpec(spec: ScheduleSpec): void {
  const positive = (v: number | undefined, what: string) => {
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new Error(`schedule: ${what} must be a positive number, got ${v}`);
  };
  if (!(spec.lr >= 0 && Number.isFinite(spec.lr))) throw new Error(`schedule: lr must be ≥ 0, got ${spec.lr}`);
  positive(spec.gamma, 'gamma');
  if (spec.kind === 'multistep') {
    spec.milestones.forEach((m, i) => {
      if (!Number.isInteger(m) || m < 0) throw new Error(`schedule: milestone ${m} is not an iteration count`);
      if (i > 0 && m <= spec.milestones[i - 1]) throw new Error(`schedule: milestones must increase, got ${spec.milestones.join(', ')}`);
    });
  } else if (spec.kind === 'plateau') {
    if (!Number.isInteger(spec.patience) || spec.patience <= 0) throw new Error(`schedule: patience must be a positive integer, got ${spec.patience}`);
  } else {
    throw new Error(`schedule: unknown kind '${(spec as { kind: string }).kind}'`);
  }
  const w = spec.warmup;
  if (w) {
    positive(w.lr, 'warm-up lr');
    if (!(w.untilTrainError > 0 && w.untilTrainError <= 1)) throw new Error(`schedule: warm-up error threshold must be in (0, 1], got ${w.untilTrainError}`);
    if (w.window !== undefined && (!Number.isInteger(w.window) || w.window <= 0)) throw new Error(`schedule: warm-up window must be a positive integer`);
  }
}
