/**
 * Coalescer: the writes asked for within one event-loop turn go to the store together, as one call.
 * A busy worker finishes many tasks per turn; writing each one's ack or result on its own costs a round
 * trip (a script call, a pipeline, a transaction) per task, where one per turn carries them all.
 *
 * Responsibilities:
 *  - collect: `add` queues an item; the first item of a batch schedules its flush on the next turn
 *    (setImmediate: after the I/O callbacks of this turn, so the tasks they finished join the batch);
 *  - bound: a batch that reaches `max` items is flushed at once, and the next item starts a new one, so
 *    one call never carries more than `max` (a script holding Redis, a transaction holding the lock);
 *  - settle: every caller of one batch gets that batch's promise, so a failed write fails each item in it
 *    and the caller's own failure handling (retry, requeue, redelivery) applies to each. One promise per
 *    batch, not per item: this runs for every task;
 *  - order: with `serial`, batches are written one after another (a later batch never overtakes an
 *    earlier one: publishes keep their order); otherwise they may overlap, as separate round trips would;
 *  - drain: `flush()` writes what is queued now and resolves once every batch so far is written.
 *
 * A lone item waits one turn (setImmediate fires before any timer); that is the whole latency it adds.
 */

export interface CoalescerOptions {
  /** Most items per write; a full batch is written at once. @defaultValue Infinity */
  max?: number;
  /** Write batches one after another, in order. @defaultValue false */
  serial?: boolean;
}

const noop = (): void => {};

interface Batch<T> {
  items: T[];
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export class Coalescer<T> {
  readonly #write: (items: T[]) => Promise<void> | void;
  readonly #max: number;
  readonly #serial: boolean;
  #batch: Batch<T> | null = null;
  /** The last batch written (serial: the tail of the chain); flush() waits for it. */
  #last: Promise<void> = Promise.resolve();
  /** Batches written so far (tests and diagnostics). */
  writes = 0;

  constructor(write: (items: T[]) => Promise<void> | void, options: CoalescerOptions = {}) {
    this.#write = write;
    this.#max = Math.max(1, options.max ?? Number.POSITIVE_INFINITY);
    this.#serial = options.serial === true;
  }

  /** Items queued for the next write. */
  get pending(): number {
    return this.#batch?.items.length ?? 0;
  }

  /** Queue `item`; resolves once the write that carries it succeeded, rejects when it failed. */
  add(item: T): Promise<void> {
    const batch = this.#open();
    batch.items.push(item);
    const { promise } = batch;
    if (batch.items.length >= this.#max) this.#send(batch);
    return promise;
  }

  /** Queue several items (kept together when they fit: a batch may exceed `max` by this call only). */
  addAll(items: readonly T[]): Promise<void> {
    if (!items.length) return Promise.resolve();
    const batch = this.#open();
    for (const item of items) batch.items.push(item);
    const { promise } = batch;
    if (batch.items.length >= this.#max) this.#send(batch);
    return promise;
  }

  /** Write what is queued now, and resolve once every batch so far has been written (or failed). */
  async flush(): Promise<void> {
    const batch = this.#batch;
    if (batch) this.#send(batch);
    let last: Promise<void> | null = null;
    while (last !== this.#last) {
      last = this.#last;
      await last;
    }
  }

  #open(): Batch<T> {
    if (this.#batch) return this.#batch;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const batch: Batch<T> = { items: [], promise, resolve, reject };
    this.#batch = batch;
    setImmediate(() => this.#send(batch));
    return batch;
  }

  /** Take `batch` out of collection and write it (no-op when it was sent already: full, or flushed). */
  #send(batch: Batch<T>): void {
    if (this.#batch !== batch) return;
    this.#batch = null;
    const run = (): Promise<void> => {
      this.writes++;
      let written: Promise<void> | void;
      try {
        written = this.#write(batch.items);
      } catch (err) {
        written = Promise.reject(err);
      }
      return Promise.resolve(written).then(
        () => {
          batch.resolve();
        },
        (err: unknown) => {
          batch.reject(err);
        },
      );
    };
    // Neither chain ever rejects (run settles the batch instead), so flush() can await it as is.
    const prev = this.#last;
    this.#last = this.#serial ? prev.then(run) : Promise.all([prev, run()]).then(noop);
  }
}
