/**
 * A handle on a task's result: reads state from the result backend, waits for readiness, re-raises a
 * failure with the remote exception type, message and traceback (whichever language raised it).
 */
import type { ResultBackend } from '../backends/backend.js';
import { ResultTimeoutError } from '../errors.js';
import { errorFromMeta, READY_STATES, type ResultMeta, type State } from '../protocol/result.js';

export interface GetOptions {
  /** Seconds to wait; rejects with ResultTimeoutError after. Default: wait forever. */
  timeout?: number;
  /** Seconds between polls for backends that poll. @defaultValue 0.5 */
  interval?: number;
  /** Reject with the task's error when it failed (default true); false resolves with the error info. */
  propagate?: boolean;
}

export class AsyncResult<R = unknown> {
  readonly id: string;
  readonly #backend: () => Promise<ResultBackend>;
  #meta: ResultMeta | null = null;

  constructor(id: string, backend: () => Promise<ResultBackend>) {
    this.id = id;
    this.#backend = backend;
  }

  /** State of the last meta read (PENDING until one is). */
  get state(): State {
    return this.#meta?.status ?? 'PENDING';
  }
  /** The result, the exception info, or custom meta of the last read. */
  get info(): unknown {
    return this.#meta?.result ?? null;
  }
  get traceback(): string | null {
    return this.#meta?.traceback ?? null;
  }
  get dateDone(): Date | null {
    return this.#meta?.date_done ? new Date(this.#meta.date_done) : null;
  }
  ready(): boolean {
    return READY_STATES.has(this.state);
  }
  successful(): boolean {
    return this.state === 'SUCCESS';
  }
  failed(): boolean {
    return this.state === 'FAILURE';
  }

  /** Read the latest meta from the backend; returns the result (undefined while not successful). */
  async refresh(): Promise<R | undefined> {
    const backend = await this.#backend();
    this.#meta = (await backend.get(this.id)) ?? this.#meta;
    return this.successful() ? (this.#meta?.result as R) : undefined;
  }

  /** Wait for the task to finish and return its result, or reject with its error. */
  async get(options: GetOptions = {}): Promise<R> {
    const backend = await this.#backend();
    const timeoutMs = options.timeout === undefined ? null : options.timeout * 1000;
    const meta = await backend.waitFor(this.id, { timeoutMs, intervalMs: (options.interval ?? 0.5) * 1000 });
    if (!meta) throw new ResultTimeoutError(this.id, options.timeout ?? 0);
    this.#meta = meta;
    if (meta.status !== 'SUCCESS' && (options.propagate ?? true)) throw errorFromMeta(meta);
    return meta.result as R;
  }

  /** Delete the stored result. */
  async forget(): Promise<void> {
    const backend = await this.#backend();
    await backend.forget(this.id);
    this.#meta = null;
  }

  toString(): string {
    return this.id;
  }
}
