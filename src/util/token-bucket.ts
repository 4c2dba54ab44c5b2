/** Celery's rate limits ('10/s', '100/m', '5/h', or tasks per second) as a token bucket per task name. */
import { ConfigError } from '../errors.js';

export function parseRate(rate: string | number): number {
  if (typeof rate === 'number') return rate;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(rate);
  if (!m) throw new ConfigError(`invalid rate limit "${rate}" (expected e.g. '10/s', '100/m', '5/h')`);
  const n = Number(m[1]);
  const per = m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1;
  return n / per;
}

export class TokenBucket {
  readonly #rate: number; // tokens per ms
  readonly #capacity: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  /** `now`: the clock in epoch ms (injectable for tests); the bucket starts full at construction. */
  constructor(perSecond: number, capacity = 1, now: () => number = Date.now) {
    this.#rate = perSecond / 1000;
    this.#capacity = capacity;
    this.#tokens = capacity;
    this.#now = now;
    this.#last = now();
  }

  /** Take a token now, or return the time (epoch ms) at which one will be available. */
  take(now = this.#now()): number | true {
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#rate);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return now + Math.ceil((1 - this.#tokens) / this.#rate);
  }
}
