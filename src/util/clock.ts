/**
 * Time and timers as an injectable dependency, so unit tests drive time by hand instead of waiting
 * (test/helpers/clock.ts). Production code takes the real ones by default; the only cost is one
 * property call where `Date.now()` / `setTimeout()` was.
 */
import { type LongTimeout, setLongTimeout } from './long-timeout.js';

/** A wall clock with one-shot timers (TimerHeap). Handles are opaque to the caller. */
export interface TimeoutClock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A monotonic clock with repeating timers (Autoscaler). Handles are opaque to the caller. */
export interface IntervalClock {
  /** Milliseconds from an arbitrary origin (performance.now by default). */
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export const realTimeoutClock: TimeoutClock = Object.freeze({
  now: Date.now,
  // Any delay (a beat sleep of weeks included): Node fires 2^31 ms or more after 1 ms.
  setTimeout: (fn: () => void, ms: number) => setLongTimeout(fn, ms),
  clearTimeout: (handle: unknown) => (handle as LongTimeout).clear(),
});

export const realIntervalClock: IntervalClock = Object.freeze({
  now: () => performance.now(),
  setInterval: (fn: () => void, ms: number) => {
    const t = setInterval(fn, ms);
    // A background check must not keep the process alive on its own.
    t.unref();
    return t;
  },
  clearInterval: (handle: unknown) => clearInterval(handle as NodeJS.Timeout),
});
