/**
 * One timer structure for all ETA/countdown tasks (and rate-limited ones): a binary min-heap ordered by
 * due time with a single setTimeout armed for the earliest entry. Ten thousand scheduled tasks cost one
 * timer, not ten thousand. The clock is injectable (tests advance time by hand); it defaults to the real one.
 */
import { realTimeoutClock, type TimeoutClock } from './clock.js';

interface Entry<T> {
  at: number;
  seq: number;
  item: T;
}

export class TimerHeap<T> {
  readonly #heap: Entry<T>[] = [];
  readonly #fire: (item: T) => void;
  readonly #clock: TimeoutClock;
  #timer: unknown = null;
  #armedAt = Number.POSITIVE_INFINITY;
  #seq = 0;

  constructor(fire: (item: T) => void, clock: TimeoutClock = realTimeoutClock) {
    this.#fire = fire;
    this.#clock = clock;
  }

  get size(): number {
    return this.#heap.length;
  }

  add(at: number, item: T): void {
    const e = { at, seq: this.#seq++, item };
    this.#heap.push(e);
    this.#up(this.#heap.length - 1);
    if (at < this.#armedAt) this.#arm();
  }

  /** Remove every entry and return their items (shutdown hands them back to the broker). */
  drain(): T[] {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedAt = Number.POSITIVE_INFINITY;
    return this.#heap.splice(0).map((e) => e.item);
  }

  items(): T[] {
    return this.#heap.map((e) => e.item);
  }

  #arm(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    const head = this.#heap[0];
    if (!head) {
      this.#timer = null;
      this.#armedAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.#armedAt = head.at;
    // setTimeout holds at most ~24.8 days; longer waits re-arm on expiry.
    const delay = Math.min(Math.max(0, head.at - this.#clock.now()), 2 ** 31 - 1);
    this.#timer = this.#clock.setTimeout(() => this.#tick(), delay);
  }

  #tick(): void {
    this.#timer = null;
    const now = this.#clock.now();
    while (this.#heap.length && (this.#heap[0] as Entry<T>).at <= now) {
      const e = this.#pop();
      this.#fire(e.item);
    }
    this.#arm();
  }

  #less(a: Entry<T>, b: Entry<T>): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #up(i: number): void {
    const h = this.#heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as Entry<T>, h[p] as Entry<T>)) break;
      [h[i], h[p]] = [h[p] as Entry<T>, h[i] as Entry<T>];
      i = p;
    }
  }

  #pop(): Entry<T> {
    const h = this.#heap;
    const top = h[0] as Entry<T>;
    const last = h.pop() as Entry<T>;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l] as Entry<T>, h[m] as Entry<T>)) m = l;
        if (r < h.length && this.#less(h[r] as Entry<T>, h[m] as Entry<T>)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Entry<T>, h[i] as Entry<T>];
        i = m;
      }
    }
    return top;
  }
}
