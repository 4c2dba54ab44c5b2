/**
 * Autoscaling (Celery's --autoscale max,min): sizes a pool to its load. Every `intervalMs` it compares
 * the work the pool has (running + waiting for a slot in the consumer) with its size, in units of
 * grow(1) (children for prefork/threads, slots for async): it grows at once to what the load needs (up
 * to `max`), and shrinks towards `min` only after `keepaliveMs` without growing, so a bursty queue does
 * not make it fork and kill in a loop. Shrinking never kills a busy child (see ChildPool.shrink).
 */
import { ConfigError } from '../errors.js';
import { type IntervalClock, realIntervalClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Pool } from './pools/pool.js';

export interface AutoscaleOptions {
  /** Most units (children, or slots for async). */
  max: number;
  /** Fewest units; the pool starts with this many. */
  min: number;
  /** Milliseconds between checks. @defaultValue 1000 */
  intervalMs?: number;
  /** Milliseconds after the last growth before the pool may shrink. @defaultValue 30000 (Celery's keepalive) */
  keepaliveMs?: number;
}

export const AUTOSCALE_DEFAULTS = { intervalMs: 1000, keepaliveMs: 30_000 };

/** Parse `max,min` (Celery's order; `max` alone means min 0, raised to 1 here). */
export function parseAutoscale(text: string): AutoscaleOptions {
  const [maxText = '', minText = '1'] = text.split(',').map((s) => s.trim());
  const max = Number(maxText);
  const min = Math.max(1, Number(minText));
  const o = { max, min };
  validateAutoscale(o);
  return o;
}

export function validateAutoscale(o: AutoscaleOptions): void {
  if (!Number.isInteger(o.max) || !Number.isInteger(o.min) || o.min < 1 || o.max < o.min) {
    throw new ConfigError(
      `autoscale must be "max,min" with whole numbers and 1 <= min <= max (e.g. 8,2), got ${o.max},${o.min}`,
    );
  }
}

export class Autoscaler {
  readonly #pool: Pool;
  readonly #waiting: () => number;
  #opts: Required<AutoscaleOptions>;
  readonly #logger: Logger;
  readonly #onResize: () => void;
  readonly #clock: IntervalClock;
  #timer: unknown = null;
  #lastGrow = 0;

  constructor(deps: {
    pool: Pool;
    /** Jobs waiting for a slot of this pool (the consumer's ready queue). */
    waiting: () => number;
    options: AutoscaleOptions;
    logger: Logger;
    /** Called after growing, so the consumer hands out the new slots. */
    onResize: () => void;
    /** Time and the check timer; tests drive them by hand. @defaultValue performance.now and an unref'd setInterval */
    clock?: IntervalClock;
  }) {
    validateAutoscale(deps.options);
    this.#pool = deps.pool;
    this.#waiting = deps.waiting;
    this.#opts = { ...AUTOSCALE_DEFAULTS, ...deps.options };
    this.#logger = deps.logger;
    this.#onResize = deps.onResize;
    this.#clock = deps.clock ?? realIntervalClock;
  }

  /** The pool this autoscaler sizes. */
  get pool(): Pool {
    return this.#pool;
  }

  get units(): number {
    return Math.round(this.#pool.concurrency / (this.#pool.growStep ?? 1));
  }

  start(): void {
    this.#lastGrow = this.#clock.now();
    this.#timer = this.#clock.setInterval(() => this.tick(), this.#opts.intervalMs);
  }

  stop(): void {
    if (this.#timer) this.#clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One check; public for tests and for a worker that wants to react to a burst at once. */
  tick(): void {
    const { max, min, keepaliveMs } = this.#opts;
    const step = this.#pool.growStep ?? 1;
    const demand = this.#pool.active + this.#waiting();
    const want = Math.min(max, Math.max(min, Math.ceil(demand / step)));
    const have = this.units;
    if (want > have) {
      this.#logger.log('info', `autoscale: ${this.#pool.implementation} ${have} -> ${want} (load ${demand})`);
      this.#pool.grow(want - have);
      this.#lastGrow = this.#clock.now();
      this.#onResize();
    } else if (want < have && this.#clock.now() - this.#lastGrow >= keepaliveMs) {
      this.#logger.log('info', `autoscale: ${this.#pool.implementation} ${have} -> ${want} (load ${demand})`);
      this.#pool.shrink(have - want);
    }
  }

  /** New bounds at run time (remote control's `autoscale`); null keeps one. Checked as at start. */
  update(max: number | null, min: number | null): { max: number; min: number } {
    const next = { ...this.#opts, max: max ?? this.#opts.max, min: min ?? this.#opts.min };
    validateAutoscale(next);
    this.#opts = next;
    this.tick();
    return { max: next.max, min: next.min };
  }

  stats(): Record<string, unknown> {
    return { max: this.#opts.max, min: this.#opts.min, qty: this.units };
  }
}
