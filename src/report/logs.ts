// What a report reads from a run's log.jsonl: the curves (training error and loss of the logged
// steps; test points; validation points; the final test) and the run's facts (network, data,
// recipe, length, time, final errors).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type LogRecord, readLog } from '../train/progress.js';

export type CurveKind = 'training' | 'test' | 'validation';

export interface CurvePoint {
  iteration: number;
  curve: CurveKind;
  /** Percent. */
  error: number;
  loss: number | null;
}

export interface RunLog {
  dir: string;
  start: LogRecord | null;
  end: LogRecord | null;
  points: CurvePoint[];
  /** The last iteration the log reached. */
  iteration: number;
  total: number | null;
  /** Training seconds recorded by the run (all its sessions). */
  seconds: number | null;
}

const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function readRunLog(dir: string): RunLog | null {
  const path = join(dir, 'log.jsonl');
  if (!existsSync(path)) return null;
  const records = readLog(path);
  const points: CurvePoint[] = [];
  let start: LogRecord | null = null;
  let end: LogRecord | null = null;
  let iteration = 0;
  let seconds: number | null = null;
  for (const r of records) {
    const it = num(r.iteration) ?? 0;
    iteration = Math.max(iteration, it);
    if (num(r.time) !== null) seconds = num(r.time);
    if (r.type === 'start') start = r;
    else if (r.type === 'end') end = r;
    if (r.type === 'step' && num(r.error) !== null) points.push({ iteration: it, curve: 'training', error: 100 * num(r.error)!, loss: num(r.loss) });
    if (r.type === 'test' && num(r.testError) !== null) points.push({ iteration: it, curve: 'test', error: 100 * num(r.testError)!, loss: num(r.testLoss) });
    if (r.type === 'eval' && num(r.valError) !== null) points.push({ iteration: it, curve: 'validation', error: 100 * num(r.valError)!, loss: num(r.valLoss) });
    if (r.type === 'epoch' && num(r.valError) !== null) points.push({ iteration: it, curve: 'validation', error: 100 * num(r.valError)!, loss: num(r.valLoss) });
    if (r.type === 'end' && num(r.testError) !== null) points.push({ iteration: it, curve: 'test', error: 100 * num(r.testError)!, loss: num(r.testLoss) });
  }
  return { dir, start, end, points, iteration, total: num(start?.total), seconds };
}

/**
 * The training error at the end of a run: the mean of the logged steps of its last tenth (at
 * least one record), in percent; null without step records.
 */
export function finalTrainingError(log: RunLog): number | null {
  const steps = log.points.filter((p) => p.curve === 'training');
  if (steps.length === 0) return null;
  const last = steps[steps.length - 1].iteration;
  const from = last - Math.max(1, Math.round(0.1 * (log.total ?? last)));
  const tail = steps.filter((p) => p.iteration > from);
  return tail.reduce((s, p) => s + p.error, 0) / tail.length;
}
