/**
 * Collects the calls made within one event-loop turn and hands them to `run` together on the next, so
 * that a thousand concurrent `publish()` calls become a few short transactions instead of a thousand
 * write locks. Each caller's promise settles with the batch that carried its items; batches run one after
 * another, so items keep their order. The SQLite broker's publishes and broadcasts use it; it is the
 * shared Coalescer (util/coalesce.ts) taking arrays. TurnBatch (below) gathers the settling rows.
 */
import { Coalescer } from '../../util/coalesce.js';
import type { SqliteFile } from './file.js';

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

/**
 * Rows of one kind gathered during a turn (acks, requeues, results) and written by one work of the file's
 * settling transaction of that turn (SqliteFile.inTurn), however the turn's callbacks are ordered. Every
 * caller of one batch gets its promise: a failed transaction fails each row in it.
 */
export class TurnBatch<T, R> {
  readonly #file: SqliteFile;
  readonly #write: (items: readonly T[]) => R;
  readonly #after: (result: R, items: readonly T[]) => void;
  readonly #max: number;
  #items: T[] | null = null;
  #done: Promise<void> | null = null;

  /**
   * `write` runs inside the transaction (again from scratch when a busy lock retries it); `after` once it
   * committed, with what `write` returned. At most `max` rows per work.
   */
  constructor(
    file: SqliteFile,
    write: (items: readonly T[]) => R,
    after: (result: R, items: readonly T[]) => void,
    max: number,
  ) {
    this.#file = file;
    this.#write = write;
    this.#after = after;
    this.#max = max;
  }

  add(item: T): Promise<void> {
    if (this.#items && this.#items.length < this.#max) {
      this.#items.push(item);
      return this.#done as Promise<void>;
    }
    const items = [item];
    this.#items = items;
    let result: R;
    const done = this.#file
      .inTurn(() => {
        if (this.#items === items) this.#items = null; // rows added from now on go to the next work
        result = this.#write(items);
      })
      .then(() => this.#after(result, items));
    this.#done = done;
    return done;
  }

  /** Resolves once every row added so far is written (or failed): works commit in order. */
  async drain(): Promise<void> {
    await this.#done?.catch(() => {});
  }
}
