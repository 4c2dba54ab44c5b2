/**
 * Waiting ahead: for a client that waits for what it sends (`await (await t.delay(x)).get()`), the
 * result's wait starts in the same tick as the publish, so the backend's subscribe round trip (Redis
 * SUBSCRIBE, then the GET that catches a result stored before it) runs while the publish is in flight
 * instead of after it. Responsibilities:
 *  - guess whether the caller is going to wait: yes from the first get() on a result its publish handed
 *    out, no again as soon as a result it handed out was not awaited right away. A producer that never
 *    calls get() never waits ahead: fire-and-forget pays one boolean test per publish;
 *  - start the wait through the backend's own waitFor (so every backend keeps its order that loses
 *    nothing: watch first, read second) and hand it to the get() that claims it;
 *  - cancel an unclaimed wait (the backend unsubscribes) one event-loop turn after the publish resolved,
 *    or at once when the publish failed.
 * Why a guess and not a pre-subscribed listener: a Redis result channel is per task id, and listening
 * to every result (a pattern subscription) would cost every client every other client's results.
 */
import type { ResultBackend } from '../backends/backend.js';
import type { ResultMeta } from '../protocol/result.js';
import { type LongTimeout, setLongTimeout } from '../util/long-timeout.js';

export class WaitAhead {
  /** The backend the last get() waited on: only that one is waited on ahead (none before a get()). */
  #backend: ResultBackend | null = null;
  #on = false;

  /** Begin waiting for `taskId` when the caller is expected to wait for it; null otherwise. */
  begin(taskId: string): EarlyWait | null {
    if (!this.#on || !this.#backend) return null;
    return new EarlyWait(this.#backend, taskId, () => {
      this.#on = false;
    });
  }

  /** A get() on a published result that had no wait ahead: the caller waits, so wait ahead from now. */
  waited(backend: ResultBackend): void {
    this.#backend = backend;
    this.#on = true;
  }
}

/** One result's wait, started before its get(). */
export class EarlyWait {
  readonly backend: ResultBackend;
  readonly #abort = new AbortController();
  readonly #meta: Promise<ResultMeta | null>;
  readonly #unclaimed: () => void;
  #claimed = false;

  constructor(backend: ResultBackend, taskId: string, unclaimed: () => void) {
    this.backend = backend;
    this.#unclaimed = unclaimed;
    this.#meta = backend.waitFor(taskId, { timeoutMs: null, signal: this.#abort.signal });
    // A failing watch rejects here; the get() that claims the wait sees that rejection.
    this.#meta.catch(() => {});
  }

  /** The publish resolved: the wait is kept for a get() in this turn, and cancelled after it. */
  published(): void {
    setImmediate(() => {
      if (this.#claimed) return;
      this.cancel();
      this.#unclaimed();
    });
  }

  /** Stop waiting (the publish failed, or nobody claimed the wait). */
  cancel(): void {
    this.#abort.abort();
  }

  /**
   * Take over the wait, with the get()'s `timeoutMs` (null: until the result, close or cancel). Null when
   * it was cancelled already (claimed too late): the get() then waits as usual.
   */
  claim(timeoutMs: number | null): Promise<ResultMeta | null> | null {
    if (this.#abort.signal.aborted) return null;
    this.#claimed = true;
    if (timeoutMs === null) return this.#meta;
    let timer: LongTimeout | undefined;
    const timedOut = new Promise<null>((resolve) => {
      timer = setLongTimeout(() => {
        this.cancel(); // ends the backend's wait (and its subscription) too
        resolve(null);
      }, timeoutMs);
    });
    return Promise.race([this.#meta, timedOut]).finally(() => timer?.clear());
  }
}
