/**
 * Counts the consumer's settling work in flight (stores, publishes, acks, rejects) so a warm shutdown
 * can wait for all of it. One counter, not a set of promises: this runs for every task. A rejection is
 * logged and counted as done, never left floating.
 */
import type { Logger } from '../util/log.js';

export class SettleTracker {
  #pending = 0;
  #waiters: Array<() => void> = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Count `p` until it ends. */
  readonly track = (p: Promise<void> | null): void => {
    if (!p) return;
    this.#pending++;
    p.then(this.#done, this.#failed);
  };

  readonly #done = (): void => {
    if (--this.#pending > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  };

  readonly #failed = (err: Error): void => {
    this.#logger.log('error', `settling a message failed: ${err?.message ?? err}`);
    this.#done();
  };

  /** Resolves once nothing is in flight. */
  async settled(): Promise<void> {
    while (this.#pending > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}
