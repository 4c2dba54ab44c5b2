/**
 * Collects the calls made within one event-loop tick and hands them to `run` together on the next, so
 * that a thousand concurrent `publish()` or `store()` calls become a few short transactions instead of a
 * thousand write locks. Each caller's promise settles with the batch that carried its items. Used by the
 * SQLite broker (publish) and result backend (store).
 */
export class TickBatcher<T> {
  readonly #run: (items: T[]) => Promise<void>;
  #items: T[] = [];
  #settle: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  #running: Promise<void> = Promise.resolve();
  #scheduled = false;

  constructor(run: (items: T[]) => Promise<void>) {
    this.#run = run;
  }

  add(items: readonly T[]): Promise<void> {
    for (const item of items) this.#items.push(item);
    const done = new Promise<void>((resolve, reject) => this.#settle.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        // Batches run one after another, so that items keep their order.
        this.#running = this.#running.then(() => this.#flush());
      });
    }
    return done;
  }

  /** Resolve once everything added so far has been handled (successfully or not). */
  async drain(): Promise<void> {
    while (this.#scheduled || this.#items.length) await new Promise((r) => setImmediate(r));
    await this.#running;
  }

  async #flush(): Promise<void> {
    const items = this.#items;
    const settle = this.#settle;
    this.#items = [];
    this.#settle = [];
    if (!settle.length) return;
    try {
      await this.#run(items);
      for (const s of settle) s.resolve();
    } catch (err) {
      for (const s of settle) s.reject(err);
    }
  }
}
