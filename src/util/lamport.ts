/**
 * A Lamport clock, as Celery keeps one per app (kombu's LamportClock): every event and control message
 * carries `clock`, a sender ticks it before sending, and a receiver moves its own past what it saw, so
 * events from several hosts order causally even when their wall clocks disagree. Flower and
 * celery.events.state sort by it; `inspect clock` reports it; mingle (`hello`) adjusts it at start-up.
 */
export class LamportClock {
  #value: number;

  constructor(initial = 0) {
    this.#value = initial;
  }

  get value(): number {
    return this.#value;
  }

  /** Tick before sending; returns the value to send. */
  forward(): number {
    this.#value += 1;
    return this.#value;
  }

  /** On receipt of `other`: max(own, other) + 1, as kombu's adjust(). Non-numbers are ignored. */
  adjust(other: unknown): number {
    const n = typeof other === 'number' ? other : typeof other === 'string' ? Number(other) : Number.NaN;
    if (Number.isFinite(n)) this.#value = Math.max(this.#value, Math.trunc(n)) + 1;
    return this.#value;
  }
}
