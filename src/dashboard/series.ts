/**
 * Per-second series over a fixed window (15 minutes): ring buffers indexed by the second, so recording
 * is O(1) and memory is fixed (a few arrays of 900 numbers, plus one per queue). Responsibilities:
 *  - counters (succeeded, failed): `count(name)` adds to the current second's bucket;
 *  - the queue wait: a sum and a count per second, read as the mean (null in a second where no task
 *    started);
 *  - gauges (in flight, depth per queue): `gauge(name, v)` sets the current second; a second without a
 *    sample reads as the last value before it (a gauge holds between samples);
 *  - read any window up to the capacity, oldest first, ending with the current second.
 * Time is injected (`now`, epoch seconds), so tests step a clock instead of sleeping.
 */
import type { SeriesView } from './api-types.js';

export interface SeriesOptions {
  /** Seconds kept. @defaultValue 900 */
  readonly capacity?: number;
  readonly now?: () => number;
}

/** One ring of per-second slots; `stamp[i]` says which second slot i holds (else it reads as empty). */
class Ring {
  readonly values: Float64Array;
  readonly stamps: Float64Array;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.stamps = new Float64Array(capacity).fill(-1);
  }

  slot(sec: number): number {
    const n = this.values.length;
    const i = sec % n;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.values[i] = 0;
    }
    return i;
  }

  get(sec: number): number | null {
    const i = sec % this.values.length;
    return this.stamps[i] === sec ? (this.values[i] as number) : null;
  }
}

/** What the ring buffers hold for a window: the API's view without its fixed step. */
export type SeriesWindow = Omit<SeriesView, 'step'>;

export class Series {
  readonly capacity: number;
  readonly #now: () => number;
  readonly #counters = new Map<string, Ring>();
  readonly #waitSum: Ring;
  readonly #waitCount: Ring;
  readonly #gauges = new Map<string, Ring>();

  constructor(options: SeriesOptions = {}) {
    this.capacity = options.capacity ?? 900;
    this.#now = options.now ?? (() => Date.now() / 1000);
    this.#waitSum = new Ring(this.capacity);
    this.#waitCount = new Ring(this.capacity);
  }

  get #sec(): number {
    return Math.floor(this.#now());
  }

  count(name: 'succeeded' | 'failed', n = 1): void {
    let r = this.#counters.get(name);
    if (!r) {
      r = new Ring(this.capacity);
      this.#counters.set(name, r);
    }
    const s = this.#sec;
    const i = r.slot(s);
    r.values[i] = (r.values[i] as number) + n;
  }

  /** A task started after waiting `ms` in its queue. */
  wait(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const s = this.#sec;
    const i = this.#waitSum.slot(s);
    this.#waitSum.values[i] = (this.#waitSum.values[i] as number) + ms;
    const j = this.#waitCount.slot(s);
    this.#waitCount.values[j] = (this.#waitCount.values[j] as number) + 1;
  }

  /** Set gauge `name` (`inFlight`, `depth:<queue>`) for the current second. */
  gauge(name: string, value: number): void {
    let r = this.#gauges.get(name);
    if (!r) {
      r = new Ring(this.capacity);
      this.#gauges.set(name, r);
    }
    const s = this.#sec;
    r.values[r.slot(s)] = value;
  }

  /** Forget a gauge (a queue that is gone). */
  dropGauge(name: string): void {
    this.#gauges.delete(name);
  }

  gaugeNames(): string[] {
    return [...this.#gauges.keys()];
  }

  #counter(name: string, start: number, n: number): number[] {
    const r = this.#counters.get(name);
    const out = new Array<number>(n).fill(0);
    if (r) for (let k = 0; k < n; k++) out[k] = r.get(start + k) ?? 0;
    return out;
  }

  #gauge(name: string, start: number, n: number): number[] {
    const r = this.#gauges.get(name);
    const out = new Array<number>(n).fill(0);
    if (!r) return out;
    // The value in force at `start`: the newest sample at or before it within the ring, else 0.
    let carry = 0;
    for (let s = start; s > start - this.capacity; s--) {
      const v = r.get(s);
      if (v !== null) {
        carry = v;
        break;
      }
    }
    for (let k = 0; k < n; k++) {
      const v = r.get(start + k);
      if (v !== null) carry = v;
      out[k] = carry;
    }
    return out;
  }

  /** The last `window` seconds (at most the capacity), oldest first, ending with the current second. */
  read(window = this.capacity): SeriesWindow {
    const n = Math.max(1, Math.min(this.capacity, Math.floor(window)));
    const end = this.#sec;
    const start = end - n + 1;
    const queueWaitMs: (number | null)[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const c = this.#waitCount.get(start + k);
      const sum = this.#waitSum.get(start + k);
      queueWaitMs[k] = c && sum !== null ? Math.round((sum / c) * 10) / 10 : null;
    }
    const depth: Record<string, number[]> = {};
    for (const name of this.#gauges.keys())
      if (name.startsWith('depth:')) depth[name.slice(6)] = this.#gauge(name, start, n);
    return {
      start,
      succeeded: this.#counter('succeeded', start, n),
      failed: this.#counter('failed', start, n),
      inFlight: this.#gauge('inFlight', start, n),
      queueWaitMs,
      depth,
    };
  }
}
