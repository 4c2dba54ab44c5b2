/**
 * Waiting for a result, written once for every result backend. A backend owns one ResultWaiters and
 * answers `waitFor()` with `wait()`. This class owns:
 *  - the waiters: task id → everyone waiting for it; many waits on one id share the backend's work;
 *  - the ends of a wait: a ready meta (SUCCESS, FAILURE, REVOKED), the timeout, the caller's AbortSignal
 *    (already aborted: null at once), or the backend closing; each ends the wait with the meta or null
 *    and leaves no timer, listener or map entry behind;
 *  - the order that loses nothing: a waiter is registered (and the backend told to `watch` the id)
 *    *before* the stored meta is read, so a result stored in between is caught by one or the other;
 *  - polling, for stores that cannot tell us about a change (SQLite written by another process): one
 *    loop per backend, running only while anyone waits, reads every awaited id in one `poll.read()` call,
 *    first after `minIntervalMs` (results of short tasks come back fast), then doubling up to the
 *    smallest `intervalMs` a waiter asked for (default `maxIntervalMs`), and back to the minimum as soon
 *    as a round finds something. `changed()` lets a store end the pause early when it sees a write.
 *
 * A backend with change notification (Redis pub/sub, the rpc reply consumer, the memory backend's
 * event) hands every meta it hears of to `notify()`; not-ready states are ignored here, so a backend
 * never filters states itself.
 */
import { READY_STATES, type ResultMeta } from '../protocol/result.js';
import { type LongTimeout, setLongTimeout } from '../util/long-timeout.js';

/** The options of `ResultBackend.waitFor()`. */
export interface WaitOptions {
  /** Milliseconds to wait before resolving null; null waits until a result, an abort or close(). */
  timeoutMs: number | null;
  /** For polling stores: the longest pause between two reads. Push-notified backends ignore it. */
  intervalMs?: number;
  signal?: AbortSignal;
}

export interface WaiterHooks {
  /**
   * The first waiter of `taskId` arrived: start hearing about it (SUBSCRIBE, start the reply consumer).
   * A rejection ends every wait of that id with that error.
   */
  watch?(taskId: string): void | Promise<void>;
  /** The last waiter of `taskId` is gone (result, timeout, abort): stop hearing about it. */
  unwatch?(taskId: string): void;
  /**
   * The metas stored for `ids`, missing ones left out (not-ready ones are ignored here). Called once per
   * new wait, right after `watch`, for a result that is already there; a rejection rejects that wait.
   */
  read?(ids: readonly string[]): ResultMeta[] | Promise<ResultMeta[]>;
  /** Turns the poll loop on. */
  poll?: {
    /** Like `read`, for every awaited id at once; a failing round is retried in the next one. */
    read(ids: readonly string[]): ResultMeta[] | Promise<ResultMeta[]>;
    /** The first pause, and the shortest gap between two reads. @defaultValue 5 */
    minIntervalMs?: number;
    /** The longest pause, unless a waiter's `intervalMs` asks for less. @defaultValue 500 */
    maxIntervalMs?: number;
    /**
     * Resolve after `ms`, or earlier once the store may have changed, or when `signal` aborts (close).
     * @defaultValue a plain timer
     */
    changed?(ms: number, signal: AbortSignal): Promise<void>;
  };
}

interface Waiter {
  end(meta: ResultMeta | null): void;
  fail(err: unknown): void;
}

export class ResultWaiters {
  readonly #hooks: WaiterHooks;
  readonly #byId = new Map<string, Set<Waiter>>();
  #loop: Promise<void> | null = null;
  #stop = new AbortController();
  #cap: number;

  constructor(hooks: WaiterHooks = {}) {
    this.#hooks = hooks;
    this.#cap = this.#maxInterval;
  }

  /** Task ids with at least one waiter. */
  get size(): number {
    return this.#byId.size;
  }

  has(taskId: string): boolean {
    return this.#byId.has(taskId);
  }

  /** The awaited task ids (a snapshot). */
  ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** The ready meta of `taskId`, or null on timeout, abort or close. */
  wait(taskId: string, options: WaitOptions): Promise<ResultMeta | null> {
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise<ResultMeta | null>((resolve, reject) => {
      let timer: LongTimeout | null = null;
      const leave = () => {
        timer?.clear();
        signal?.removeEventListener('abort', onAbort);
        const set = this.#byId.get(taskId);
        if (set?.delete(waiter) && set.size === 0) {
          this.#byId.delete(taskId);
          this.#hooks.unwatch?.(taskId);
        }
      };
      const waiter: Waiter = {
        end: (meta) => {
          leave();
          resolve(meta);
        },
        fail: (err) => {
          leave();
          reject(err);
        },
      };
      const onAbort = () => waiter.end(null);
      // A timeout of days is a timeout of days (setLongTimeout), not 1 ms.
      if (options.timeoutMs !== null) timer = setLongTimeout(onAbort, options.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });

      let set = this.#byId.get(taskId);
      const first = !set;
      if (!set) {
        set = new Set();
        this.#byId.set(taskId, set);
      }
      set.add(waiter);
      if (options.intervalMs !== undefined) this.#cap = Math.min(this.#cap, options.intervalMs);

      // Watch first, read second: a result stored in between reaches us through one of the two.
      if (first && this.#hooks.watch) {
        const failAll = (err: unknown) => {
          for (const w of [...(this.#byId.get(taskId) ?? [])]) w.fail(err);
        };
        try {
          Promise.resolve(this.#hooks.watch(taskId)).catch(failAll);
        } catch (err) {
          failAll(err);
        }
      }
      if (this.#hooks.read) {
        const read = this.#hooks.read;
        Promise.resolve()
          .then(() => read([taskId]))
          .then(
            (metas) => {
              for (const meta of metas) if (meta.task_id === taskId) this.notify(meta);
            },
            (err: unknown) => waiter.fail(err), // a no-op when the wait already ended
          );
      }
      if (this.#hooks.poll) this.#loop ??= this.#pollWhileWaited(this.#hooks.poll);
    });
  }

  /**
   * A meta the store has seen (stored here, published, received): ends every wait of its task when it
   * is ready, and does nothing otherwise. `taskId` defaults to the meta's own. Returns true when
   * someone was waiting.
   */
  notify(meta: ResultMeta, taskId: string = meta.task_id): boolean {
    if (!READY_STATES.has(meta.status)) return false;
    const set = this.#byId.get(taskId);
    if (!set) return false;
    for (const w of [...set]) w.end(meta);
    return true;
  }

  /** End every wait with null and stop the poll loop (the backend is closing). */
  async close(): Promise<void> {
    for (const set of [...this.#byId.values()]) for (const w of [...set]) w.end(null);
    this.#stop.abort();
    await this.#loop;
    this.#stop = new AbortController();
  }

  get #maxInterval(): number {
    return this.#hooks.poll?.maxIntervalMs ?? 500;
  }

  async #pollWhileWaited(poll: NonNullable<WaiterHooks['poll']>): Promise<void> {
    const min = poll.minIntervalMs ?? 5;
    const changed = poll.changed ?? sleep;
    const stop = this.#stop.signal;
    let interval = min;
    try {
      while (this.#byId.size && !stop.aborted) {
        const started = Date.now();
        let found = 0;
        try {
          for (const meta of await poll.read(this.ids())) if (this.notify(meta)) found++;
        } catch {
          // A busy or failing store: the waiters keep waiting (or time out); the next round retries.
        }
        if (!this.#byId.size || stop.aborted) break;
        if (found) interval = min;
        await changed(Math.min(interval, this.#cap), stop);
        interval = Math.min(interval * 2, this.#cap);
        const gap = min - (Date.now() - started);
        if (gap > 0 && !stop.aborted) await sleep(gap, stop);
      }
    } finally {
      this.#loop = null;
      this.#cap = this.#maxInterval;
    }
  }
}

/** Resolve after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
