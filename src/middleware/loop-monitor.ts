/**
 * Event-loop blocking detection. One timer for the whole worker, never one per task: it ticks every
 * `intervalMs` and measures how late each tick fires. A tick late by more than `thresholdMs` means the
 * loop was blocked: something ran synchronously that long (a CPU loop, sync fs/crypto/zlib, a huge
 * JSON.parse, a native addon that does not release the loop).
 *
 * Blame, from the window between the moment the tick was due and the moment it fired, best evidence first:
 *  1. tasks whose first synchronous stretch (from start to their first await, which the blocking middleware
 *     measures) covered at least half the stall: a task that computes from its first line;
 *  2. else tasks that finished during the stall: they ran its last synchronous stretch. When more than a
 *     few finished and none ran long, nobody blocked the loop: many short tasks ran back to back (a
 *     CPU-bound worker, e.g. a thousand responses arriving together). That is reported as saturation,
 *     at most once a minute, and blamed on no task. Likewise when more than a few tasks started during
 *     the stall (a burst being taken in);
 *  3. else every loop task that was running: the culprit awaits again (e.g. `await fetch();
 *     JSON.parse(huge); await save()`), and an innocent task waiting on I/O may be named with it; the
 *     counts per task name tell them apart over time.
 * The CPU the process used during the stall is reported too: a stall with little CPU means the process
 * was waiting (an overloaded machine, or a synchronous call that sleeps, such as execSync).
 *
 * Cost per task: one small object and a Set insert/delete, only for pools that run on the loop.
 */
import type { Logger } from '../util/log.js';

export interface LoopActivity {
  readonly name: string;
  readonly id: string;
  readonly started: number;
  /** Milliseconds from the start to the first await; 0 until known. */
  sync: number;
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
/** More tasks than this finishing in one stall, none of them long, is saturation rather than a culprit. */
const SATURATION_TASKS = 3;
const SATURATION_LOG_EVERY_MS = 60_000;

export class LoopMonitor {
  readonly thresholdMs: number;
  readonly #logger: Logger;
  readonly #interval: number;
  readonly #running = new Set<LoopActivity>();
  #finished: LoopActivity[] = [];
  #timer: NodeJS.Timeout | null = null;
  #due = 0;
  #cpu = 0;
  #events = 0;
  #maxMs = 0;
  readonly #byTask: Record<string, number> = {};
  /** The longest stall and the time of the last one (epoch seconds) per task name, for the dashboard. */
  readonly #detail: Record<string, { 'max-ms': number; 'last-at': number }> = {};
  #saturated = 0;
  #saturationLoggedAt = Number.NEGATIVE_INFINITY;

  constructor(options: LoopMonitorOptions) {
    this.thresholdMs = options.thresholdMs;
    this.#logger = options.logger;
    this.#interval = options.intervalMs ?? Math.min(250, Math.max(10, Math.round(options.thresholdMs / 4)));
  }

  /** A task starts on the loop. */
  begin(name: string, id: string): LoopActivity {
    const a: LoopActivity = {
      name,
      id,
      started: performance.now(),
      sync: 0,
      ended: Number.POSITIVE_INFINITY,
    };
    this.#running.add(a);
    return a;
  }

  /** The task reached its first await (or finished synchronously). */
  ran(a: LoopActivity): void {
    a.sync = performance.now() - a.started;
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
      'by-task-detail': structuredClone(this.#detail),
      saturated: this.#saturated,
    };
  }

  #arm(): void {
    this.#cpu = cpuMs();
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

  #blame(
    late: number,
    due: number,
  ): { blamed: LoopActivity[]; sure: boolean; saturated?: number; unattributed?: number } {
    const all = [...this.#finished, ...this.#running];
    const overlap = (a: LoopActivity) => Math.min(a.started + a.sync, due + late) - Math.max(a.started, due);
    const heavy = all.filter((a) => overlap(a) >= late / 2);
    if (heavy.length) return { blamed: heavy, sure: true };
    const finished = this.#finished.filter((a) => a.ended >= due);
    if (finished.length > SATURATION_TASKS) return { blamed: [], sure: false, saturated: finished.length };
    if (finished.length) return { blamed: finished, sure: true };
    // Many tasks started during the stall, none computing long: intake of a burst, not a culprit.
    const started = all.filter((a) => a.started >= due).length;
    if (started > SATURATION_TASKS) return { blamed: [], sure: false, saturated: started };
    // Many tasks waiting, none of them seen computing: naming a handful at random would mislead.
    if (this.#running.size > SATURATION_TASKS)
      return { blamed: [], sure: false, unattributed: this.#running.size };
    return { blamed: [...this.#running], sure: false };
  }

  #report(late: number, due: number): void {
    this.#events++;
    this.#maxMs = Math.max(this.#maxMs, late);
    const { blamed, sure, saturated, unattributed } = this.#blame(late, due);
    const ms = Math.round(late);
    // CPU used since the last tick (the stall plus one interval at most).
    const cpu = Math.round(cpuMs() - this.#cpu);
    const onCpu =
      cpu >= late / 2
        ? ` (${cpu} ms on CPU)`
        : ` (only ${cpu} ms on CPU: the process was waiting, for the machine or a synchronous call)`;
    if (saturated || unattributed) {
      this.#events--;
      this.#saturated++;
      const now = performance.now();
      if (now - this.#saturationLoggedAt >= SATURATION_LOG_EVERY_MS) {
        this.#saturationLoggedAt = now;
        const what = saturated
          ? `${saturated} tasks ran or started back to back, none for long; the worker is CPU-bound`
          : `${unattributed} tasks on the loop, none seen computing (a garbage-collection pause, or a task that computes after an await)`;
        this.#logger.log(
          'warn',
          `Event loop busy for ${ms} ms${onCpu}: ${what}. Run more worker processes (or a CPU pool for heavy tasks), or lower -c (logged at most once a minute)`,
        );
      }
      return;
    }
    if (!blamed.length) {
      this.#logger.log('warn', `Event loop blocked for ${ms} ms${onCpu}; no task was running on the loop`);
      return;
    }
    for (const name of new Set(blamed.map((a) => a.name))) {
      this.#byTask[name] = (this.#byTask[name] ?? 0) + 1;
      const d = this.#detail[name];
      this.#detail[name] = { 'max-ms': Math.max(d?.['max-ms'] ?? 0, ms), 'last-at': Date.now() / 1000 };
    }
    const listed = blamed
      .slice(0, LISTED)
      .map((a) => `${a.name}[${a.id}]`)
      .join(', ');
    const more = blamed.length > LISTED ? ` and ${blamed.length - LISTED} more` : '';
    this.#logger.log(
      'warn',
      `Event loop blocked for ${ms} ms${onCpu} by ${sure ? '' : 'one of '}${listed}${more}: every task on the loop waited. Move CPU-bound tasks to the CPU pool (task option { pool: 'cpu' } with --cpu-pool prefork:N) or make them yield`,
    );
  }
}

/** CPU time of this process (user + system), in milliseconds. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
