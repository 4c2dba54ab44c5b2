/**
 * A handle on a task's result: reads state from the result backend, waits for readiness, re-raises a
 * failure with the remote exception type, message and traceback (whichever language raised it).
 */
import type { ResultBackend } from '../backends/backend.js';
import { ConfigError, ResultTimeoutError } from '../errors.js';
import { errorFromMeta, READY_STATES, type ResultMeta, type State } from '../protocol/result.js';
import type { EarlyWait, WaitAhead } from './wait-ahead.js';

export interface GetOptions {
  /** Seconds to wait; rejects with ResultTimeoutError after. Default: wait forever. */
  timeout?: number;
  /** Seconds between polls for backends that poll. @defaultValue 0.5 */
  interval?: number;
  /** Reject with the task's error when it failed (default true); false resolves with the error info. */
  propagate?: boolean;
}

export interface RevokeOptions {
  /** Also stop the task where it runs now. @defaultValue false */
  terminate?: boolean;
  /** The signal for process pools, e.g. 'SIGKILL'. @defaultValue 'SIGTERM' */
  signal?: string;
  /** Only these workers. */
  destination?: string | readonly string[];
  /** Collect the workers' replies (and wait `timeout` seconds for them). @defaultValue false */
  reply?: boolean;
  timeout?: number;
}

/** Sends a revoke through the app's remote control (app/app.ts passes it). */
export type Revoker = (id: string, options: RevokeOptions) => Promise<unknown>;

/** What a result's parent or child can be: a task's result or a group's (canvas/group-result.ts). */
export interface ResultParent {
  readonly id: string;
  readonly parent: ResultParent | null;
  get(options?: GetOptions): Promise<unknown>;
  readonly children: readonly ResultParent[] | null;
}

type TupleReader = (backend: () => Promise<ResultBackend>, tuple: unknown) => ResultParent | null;
let readTuple: TupleReader | null = null;
/** canvas/group-result.ts reads Celery's result tuples (a child may be a group); task/ does not import canvas/. */
export function registerTupleReader(reader: TupleReader): void {
  readTuple = reader;
}

let attachAhead: (r: AsyncResult, ahead: WaitAhead, early: EarlyWait | null) => void;
/**
 * The app's publish hands the result its wait ahead (./wait-ahead.ts): the wait already started, or
 * null, and whom to tell that a get() followed. Not part of the public API (the package never exports it).
 */
export function withWaitAhead<R>(
  r: AsyncResult<R>,
  ahead: WaitAhead,
  early: EarlyWait | null,
): AsyncResult<R> {
  attachAhead(r as AsyncResult, ahead, early);
  return r;
}

export class AsyncResult<R = unknown> {
  readonly id: string;
  /**
   * The result this one follows in a workflow (a chain's previous step, a chord body's header group),
   * known when this handle came from applying the workflow (Celery's `AsyncResult.parent`).
   */
  parent: ResultParent | null = null;
  readonly #backend: () => Promise<ResultBackend>;
  readonly #revoker: Revoker | null;
  #meta: ResultMeta | null = null;
  #ahead: WaitAhead | null = null;
  #early: EarlyWait | null = null;

  static {
    attachAhead = (r, ahead, early) => {
      r.#ahead = ahead;
      r.#early = early;
    };
  }

  constructor(id: string, backend: () => Promise<ResultBackend>, revoker: Revoker | null = null) {
    this.id = id;
    this.#backend = backend;
    this.#revoker = revoker;
  }

  /**
   * Tell the workers not to run this task (Celery's AsyncResult.revoke), through remote control; with
   * `terminate`, also stop it where it runs. Resolves with the replies when `reply` is set.
   */
  async revoke(options: RevokeOptions = {}): Promise<unknown> {
    if (!this.#revoker)
      throw new ConfigError('this result has no app to revoke through: use app.AsyncResult(id).revoke()');
    return this.#revoker(this.id, options);
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
  /**
   * The tasks this task sent, from the last meta read (`refresh`/`get`): link callbacks, subtasks,
   * groups, as Celery's worker records them (`children` in the meta, result tuples). Null before a read.
   */
  get children(): ResultParent[] | null {
    if (!this.#meta) return null;
    const list = Array.isArray(this.#meta.children) ? this.#meta.children : [];
    const out: ResultParent[] = [];
    for (const t of list) {
      const r = readTuple?.(this.#backend, t);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * Celery's `collect()`: this result and, breadth first, every child's, each with its value, waiting
   * for each in turn. A child appears once its parent is done (a task records its children before its
   * own result).
   */
  async *collect(options: GetOptions = {}): AsyncGenerator<[ResultParent, unknown]> {
    const queue: ResultParent[] = [this];
    while (queue.length) {
      const node = queue.shift() as ResultParent;
      const value = await node.get(options);
      yield [node, value];
      queue.push(...(node.children ?? []));
    }
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
    const timeoutMs = options.timeout === undefined ? null : options.timeout * 1000;
    // Claimed before the first await: the wait started with the publish is kept only for this turn.
    const early = options.interval === undefined ? (this.#early?.claim(timeoutMs) ?? null) : null;
    const started = this.#early;
    this.#early = null;
    const backend = await this.#backend();
    let meta: ResultMeta | null;
    if (early && started?.backend === backend) {
      meta = await early;
    } else {
      started?.cancel();
      this.#ahead?.waited(backend);
      meta = await backend.waitFor(this.id, { timeoutMs, intervalMs: (options.interval ?? 0.5) * 1000 });
    }
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
