/**
 * Collects the calls made within one event-loop turn and hands them to `run` together on the next, so
 * that a thousand concurrent `publish()` calls become a few short transactions instead of a thousand
 * write locks. Each caller's promise settles with the batch that carried its items; batches run one after
 * another, so items keep their order. The SQLite broker's publishes and broadcasts use it; it is the
 * shared Coalescer (util/coalesce.ts) taking arrays.
 */
import { Coalescer } from '../../util/coalesce.js';

export class TickBatcher<T> {
  readonly #batches: Coalescer<T>;

  constructor(run: (items: T[]) => Promise<void>) {
    this.#batches = new Coalescer(run, { serial: true });
  }

  add(items: readonly T[]): Promise<void> {
    return this.#batches.addAll(items);
  }

  /** Resolve once everything added so far has been handled (successfully or not). */
  drain(): Promise<void> {
    return this.#batches.flush();
  }
}
