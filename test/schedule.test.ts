// Learning-rate schedules: the paper's values at the right iterations, and states that restore exactly.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Schedule, type ScheduleSpec, scaleMilestones } from '../src/optim/schedule.js';
import { CIFAR_PAPER as CIFAR_RECIPE, IMAGENET_PAPER, applyOverrides, recipeForNet, scheduleSpec, totalIterations } from '../src/train/recipe.js';

/** The CIFAR recipe as it runs for a net without warm-up. */
const CIFAR_PAPER = recipeForNet(CIFAR_RECIPE, 'resnet56');

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

/** lr used by each of `steps` steps, feeding `errors(i)` as the batch training error. */
function lrSequence(s: Schedule, steps: number, errors: (i: number) => number = () => 0.5): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    out.push(s.lr);
    s.afterStep(errors(i));
  }
  return out;
}

describe('multistep (CIFAR, Sec. 4.2)', () => {
  it('0.1, then 0.01 from iteration 32000, 0.001 from 48000, over 64000 iterations', () => {
    const spec = scheduleSpec(CIFAR_PAPER, totalIterations(CIFAR_PAPER, 352));
    assert.deepEqual(spec.kind === 'multistep' && spec.milestones, [32000, 48000]);
    const s = new Schedule(spec);
    const lrs = lrSequence(s, 64000);
    close(lrs[0], 0.1);
    close(lrs[31999], 0.1);
    close(lrs[32000], 0.01);
    close(lrs[47999], 0.01);
    close(lrs[48000], 0.001);
    close(lrs[63999], 0.001);
    assert.equal(new Set(lrs).size, 3);
    assert.equal(s.iterations, 64000);
  });

  it('a run given in epochs divides at the same fractions (50% and 75%)', () => {
    const r = applyOverrides(CIFAR_PAPER, { epochs: 6 });
    const total = totalIterations(r, 100);
    assert.equal(total, 600);
    const spec = scheduleSpec(r, total);
    assert.deepEqual(spec.kind === 'multistep' && spec.milestones, [300, 450]);
    assert.deepEqual(scaleMilestones([32000, 48000], 64000, 1000), [500, 750]);
  });

  it('explicit milestones are iterations as given, whatever the length', () => {
    const r = applyOverrides(CIFAR_PAPER, { epochs: 6, milestones: [10, 20], gamma: 0.5 });
    const spec = scheduleSpec(r, totalIterations(r, 100));
    assert.deepEqual(spec.kind === 'multistep' && spec.milestones, [10, 20]);
    const lrs = lrSequence(new Schedule(spec), 25);
    close(lrs[9], 0.1);
    close(lrs[10], 0.05);
    close(lrs[20], 0.025);
  });

  it('rejects milestones that do not increase', () => {
    assert.throws(() => new Schedule({ kind: 'multistep', lr: 0.1, milestones: [5, 5] }), /increase/);
  });
});

describe('plateau (ImageNet, Sec. 3.4)', () => {
  it('divides by 10 after `patience` validations without improvement, then waits again', () => {
    const s = new Schedule({ kind: 'plateau', lr: 0.1, patience: 2 });
    const reduced = [0.5, 0.4, 0.4, 0.45, 0.39, 0.39, 0.38, 0.38, 0.38].map((e) => s.afterEval(e));
    //               best  best  bad1  bad2→÷10 best bad1  best  bad1  bad2→÷10
    assert.deepEqual(reduced, [false, false, false, true, false, false, false, false, true]);
    close(s.lr, 0.001);
  });

  it('an improvement must beat the best by more than the threshold', () => {
    const s = new Schedule({ kind: 'plateau', lr: 0.1, patience: 1, threshold: 0.01 });
    s.afterEval(0.5);
    assert.equal(s.afterEval(0.495), true); // not 0.01 better
    close(s.lr, 0.01);
  });

  it('the ImageNet recipe uses it, and iterations do not change lr', () => {
    const spec = scheduleSpec(IMAGENET_PAPER, 600000);
    assert.equal(spec.kind, 'plateau');
    const s = new Schedule(spec);
    lrSequence(s, 1000);
    close(s.lr, 0.1);
  });
});

describe('warm-up (ResNet-110, Sec. 4.2)', () => {
  const spec: ScheduleSpec = {
    kind: 'multistep', lr: 0.1, milestones: [100], warmup: { lr: 0.01, untilTrainError: 0.8, window: 5 },
  };

  it('lr 0.01 until the training error over the window is below 80%, then the schedule', () => {
    const s = new Schedule(spec);
    // 0.9 for 10 steps, then 0.7: the mean of the last 5 drops below 0.8 after the third 0.7.
    const lrs = lrSequence(s, 20, (i) => (i < 10 ? 0.9 : 0.7));
    assert.deepEqual(lrs.slice(0, 13), new Array(13).fill(0.01));
    close(lrs[13], 0.1);
    assert.equal(s.warmupEndedAt, 13);
    assert.equal(s.warmingUp, false);
    lrSequence(s, 100, () => 0.95); // a later rise of the error does not bring the warm-up back
    close(s.lr, 0.01); // milestone 100 passed: 0.1 × 0.1
  });

  it('a window not yet full does not end it, maxIterations does', () => {
    const s = new Schedule({ ...spec, warmup: { lr: 0.01, untilTrainError: 0.8, window: 5, maxIterations: 3 } });
    const lrs = lrSequence(s, 4, () => 0.1);
    assert.deepEqual(lrs, [0.01, 0.01, 0.01, 0.1]);
  });
});

describe('schedule state', () => {
  const specs: ScheduleSpec[] = [
    { kind: 'multistep', lr: 0.1, milestones: [7, 13], warmup: { lr: 0.01, untilTrainError: 0.6, window: 3 } },
    { kind: 'plateau', lr: 0.1, patience: 2, warmup: { lr: 0.02, untilTrainError: 0.5, window: 4 } },
  ];
  for (const spec of specs) {
    it(`${spec.kind}: a schedule restored from JSON continues exactly as the original`, () => {
      const errors = (i: number) => 0.9 - 0.03 * i + 0.05 * Math.sin(i);
      const run = (s: Schedule, from: number, to: number) => {
        const lrs: number[] = [];
        for (let i = from; i < to; i++) {
          lrs.push(s.lr);
          s.afterStep(errors(i));
          if (i % 3 === 2) s.afterEval(0.5 + 0.1 * Math.cos(i));
        }
        return lrs;
      };
      const whole = run(new Schedule(spec), 0, 30);
      const first = new Schedule(spec);
      const a = run(first, 0, 11);
      const second = new Schedule(spec);
      second.loadState(JSON.parse(JSON.stringify(first.state())));
      const b = run(second, 11, 30);
      assert.deepEqual([...a, ...b], whole);
      assert.ok(new Set(whole).size >= 2, 'the sequence exercises a change of lr');
    });
  }

  it('refuses a state of another kind of schedule', () => {
    const m = new Schedule({ kind: 'multistep', lr: 0.1, milestones: [] });
    const p = new Schedule({ kind: 'plateau', lr: 0.1, patience: 1 });
    assert.throws(() => m.loadState(p.state()), /plateau/);
    assert.throws(() => p.loadState(new Schedule({ ...p.spec, warmup: { lr: 0.01, untilTrainError: 0.8 } }).state()), /warm-up/);
  });
});
