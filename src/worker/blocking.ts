/**
 * Event-loop blocking detection. One timer for the whole worker, never one per task: it ticks every
 * `intervalMs` and measures how late each tick fires. A tick late by more than `thresholdMs` means the
 * loop was blocked: something ran synchronously that long (a CPU loop, sync fs/crypto/zlib, a huge
 * JSON.parse, a native addon that does not release the loop).
 *
 * Blame. The stall covered the moment the tick was due, so the culprit was on the loop then. Tasks that
 * finished during the stall ran its last synchronous stretch: when there are any, they are the ones
 * named. Otherwise (the culprit awaits again, e.g. `await fetch(); JSON.parse(huge); await save()`)
 * every loop task that was running when the tick was due is named; an innocent task waiting on I/O may
 * be among them, and the counts per task name tell them apart over time.
 *
 * Cost per task: one small object and a Set insert/delete (begin/end), only for pools that run on the loop.
 */
import type { Logger } from './log.js';

export interface LoopActivity {
  readonly name: string;
  readonly id: string;
  readonly started: number;
  ended: number;
}

export interface LoopMonitorOptions {
  /** Stall, in milliseconds, worth a warning. */
  thresholdMs: number;
  logger: Logger;
  /** Tick period; a stall is measured to within it. @defaultValue thresholdMs / 4, between 10 and 250 */
  intervalMs?: number;
}

const LISTED = 5;

export class LoopMonitor {
  readonly thresholdMs: number;
  readonly #logger: Logger;
  readonly #interval: number;
  readonly #running = new Set<LoopActivity>();
  #finished: LoopActivity[] = [];
  #timer: NodeJS.Timeout | null = null;
  #due = 0;
  #events = 0;
  #maxMs = 0;
  readonly #byTask: Record<string, number> = {};

  constructor(options: LoopMonitorOptions) {
    this.thresholdMs = options.thresholdMs;
    this.#logger = options.logger;
    this.#interval = options.intervalMs ?? Math.min(250, Math.max(10, Math.round(options.thresholdMs / 4)));
  }

  /** A task starts on the loop. */
  begin(name: string, id: string): LoopActivity {
    const a: LoopActivity = { name, id, started: performance.now(), ended: Number.POSITIVE_INFINITY };
    this.#running.add(a);
    return a;
  }

  /** That task is done (whatever the outcome). */
  end(a: LoopActivity): void {
    a.ended = performance.now();
    this.#running.delete(a);
    if (this.#timer) this.#finished.push(a);
  }

  start(): void {
    if (this.#timer) return;
    this.#arm();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#finished = [];
  }

  stats(): Record<string, unknown> {
    return {
      'threshold-ms': this.thresholdMs,
      events: this.#events,
      'max-ms': Math.round(this.#maxMs),
      'by-task': { ...this.#byTask },
    };
  }

  #arm(): void {
    this.#due = performance.now() + this.#interval;
    this.#timer = setTimeout(() => this.#tick(), this.#interval);
    // The monitor alone never keeps a process alive.
    this.#timer.unref();
  }

  #tick(): void {
    const late = performance.now() - this.#due;
    if (late > this.thresholdMs) this.#report(late, this.#due);
    this.#finished = [];
    this.#arm();
  }

  #report(late: number, due: number): void {
    this.#events++;
    this.#maxMs = Math.max(this.#maxMs, late);
    const likely = this.#finished.filter((a) => a.started <= due && a.ended >= due);
    const blamed = likely.length ? likely : [...this.#running].filter((a) => a.started <= due);
    const ms = Math.round(late);
    if (!blamed.length) {
      this.#logger.log('warn', `Event loop blocked for ${ms} ms; no task was running on the loop`);
      return;
    }
    for (const name of new Set(blamed.map((a) => a.name))) this.#byTask[name] = (this.#byTask[name] ?? 0) + 1;
    const listed = blamed
      .slice(0, LISTED)
      .map((a) => `${a.name}[${a.id}]`)
      .join(', ');
    const more = blamed.length > LISTED ? ` and ${blamed.length - LISTED} more` : '';
    this.#logger.log(
      'warn',
      `Event loop blocked for ${ms} ms by ${likely.length ? '' : 'one of '}${listed}${more}: every task on the loop waited. Move CPU-bound tasks to the CPU pool (task option { pool: 'cpu' } with --cpu-pool prefork:N) or make them yield`,
    );
  }
}
