/**
 * A clock that moves only when a test says so: `now()` is a number the test advances, and timers fire
 * from `advance()` in due order (ties in the order they were set), each seeing `now()` at its due time.
 * It implements src/util/clock.ts's TimeoutClock and IntervalClock.
 */
import type { IntervalClock, TimeoutClock } from '../../src/util/clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
  /** Repeat period for intervals; null for one-shot timers. */
  every: number | null;
}

export class ManualClock implements TimeoutClock, IntervalClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  /** Every delay passed to setTimeout/setInterval, in call order. */
  readonly delays: number[] = [];

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  setTimeout(fn: () => void, ms: number): number {
    return this.#add(fn, ms, null);
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  setInterval(fn: () => void, ms: number): number {
    return this.#add(fn, ms, ms);
  }
  clearInterval(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= end && (!next || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      if (next.every === null) this.#timers.delete(next.id);
      else next.at += Math.max(1, next.every);
      next.fn();
    }
    this.#now = end;
  }

  #add(fn: () => void, ms: number, every: number | null): number {
    this.delays.push(ms);
    const id = ++this.#seq;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn, every });
    return id;
  }
}
