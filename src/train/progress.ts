// What a run shows and keeps while it trains: the JSON Lines log (one record per logged step, per
// epoch, per validation, and at start and end) and the progress display on stderr: a bar redrawn
// in place on a terminal, one plain line per logged step otherwise (files, CI logs).

import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export type LogRecord = { type: string; iteration?: number } & Record<string, unknown>;

/** Appends records to DIR/log.jsonl, one JSON object a line. */
export class JsonlLog {
  constructor(readonly path: string) {}

  write(record: LogRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }

  /**
   * Drops the records a resumed run will write again: those of iterations after the checkpoint
   * (the run may have gone on past its last checkpoint before it stopped).
   */
  truncateAfter(iteration: number): void {
    if (!existsSync(this.path)) return;
    const kept = readFileSync(this.path, 'utf8').split('\n').filter((line) => {
      if (line.trim() === '') return false;
      try {
        const r = JSON.parse(line) as LogRecord;
        return r.iteration === undefined || r.iteration <= iteration;
      } catch {
        return false; // a line cut short by a crash
      }
    });
    writeFileSync(this.path, kept.map((l) => `${l}\n`).join(''));
  }
}

/** Reads a log back (for tests and reports). */
export function readLog(path: string): LogRecord[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogRecord);
}

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface ProgressLine {
  iteration: number;
  total: number;
  epoch: number; // 1-based, the epoch in progress
  loss: number;
  error: number; // fraction
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** The display on stderr. */
export class Progress {
  private drawn = false;
  /** Text added to every progress line (an experiment's position and overall ETA). */
  context: ((p: ProgressLine) => string) | null = null;
  constructor(readonly mode: ProgressMode, private readonly stream: NodeJS.WriteStream = process.stderr) {}

  static auto(stream: NodeJS.WriteStream = process.stderr): Progress {
    return new Progress(stream.isTTY ? 'bar' : 'lines', stream);
  }

  /** Called every step in bar mode, every logged step in lines mode. */
  update(p: ProgressLine, logged: boolean): void {
    if (this.mode === 'bar') {
      this.stream.write(`\r${formatBar(p, this.stream.columns ?? 100, this.context?.(p).trim() ?? '')}\x1b[K`);
      this.drawn = true;
    } else if (this.mode === 'lines' && logged) {
      this.stream.write(`iter ${p.iteration}/${p.total} epoch ${p.epoch} loss ${p.loss.toFixed(4)} error ${(100 * p.error).toFixed(2)}% ` +
        `lr ${formatValue(p.lr)} ${p.imagesPerSecond.toFixed(1)} img/s ETA ${formatDuration(p.etaSeconds)}${this.context?.(p) ?? ''}\n`);
    }
  }

  /** A message on its own line (epoch summaries, warnings). */
  message(text: string): void {
    if (this.mode === 'none') return;
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
    this.stream.write(`${text}\n`);
  }

  /** Leaves the bar's last state on screen. */
  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/**
 * The progress bar's line for a terminal `columns` wide: at most columns − 1 characters (the last
 * column would wrap on some terminals). Narrow terminals drop the least useful figures first
 * (`context`, e.g. which run of an experiment, goes first), then shrink the bar, then drop it.
 */
export function formatBar(p: ProgressLine, columns: number, context = ''): string {
  const fields = [
    `${p.iteration}/${p.total}`,
    `loss ${p.loss.toFixed(3)}`,
    `ETA ${formatDuration(p.etaSeconds)}`,
    `err ${(100 * p.error).toFixed(1)}%`,
    `lr ${formatValue(p.lr)}`,
    `${p.imagesPerSecond.toFixed(0)} img/s`,
    `ep ${p.epoch}`,
    ...(context ? [context] : []),
  ];
  const order = [0, 6, 1, 3, 4, 5, 2, 7]; // the order they are shown in
  const room = Math.max(1, columns - 1);
  for (let kept = fields.length; kept >= 1; kept--) {
    const stats = order.filter((i) => i < kept).map((i) => fields[i]!).join(' ');
    const width = Math.min(40, room - stats.length - 3); // '[' + bar + '] '
    if (width >= 10 || (kept === 1 && width >= 3)) {
      const done = Math.round((width * p.iteration) / p.total);
      return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${stats}`;
    }
    if (kept === 1) return stats.slice(0, room);
  }
  return '';
}

/** A number as a person reads it: at most 4 significant digits, no float noise (0.005000000000000001 → 0.005). */
export function formatValue(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
