/**
 * The result backend contract. Every backend (memory, sqlite, redis, rpc) implements it and runs the
 * backend conformance suite (test/conformance/backend.ts). Metas are Celery's (protocol/result.ts), so a
 * backend only stores and notifies; it never interprets states beyond "is it ready". Waiting (waiters,
 * timeout, abort, polling) is written once, in waiters.ts; a backend only says how it hears of results.
 */
import type { ResultMeta } from '../protocol/result.js';
import type { WaitOptions } from './waiters.js';

export type { WaitOptions } from './waiters.js';

/** How long a stored result or group is kept. */
export interface StoreOptions {
  /** Seconds until the result may be deleted; null keeps it. */
  expires: number | null;
}

/**
 * The request a result answers. Only the rpc:// backend uses it: it sends the result to `replyTo` (the
 * client's reply queue) with `correlationId`, and sends nothing when `replyTo` is null, as Celery's rpc
 * backend. Backends that store results by task id ignore it.
 */
export interface ResultOrigin {
  /** The request's `reply_to`. */
  replyTo: string | null;
  /** The request's `correlation_id`; null: the task id. */
  correlationId: string | null;
}

/** What a backend supports beyond storing and reading metas; the conformance suite reads these. */
export interface BackendCapabilities {
  /** saveGroup/getGroup keep a group's member ids (Celery's GroupResult.save). rpc:// has none, as Celery's. */
  groups: boolean;
  /** A stored result is gone after its `expires` seconds. rpc://: a result message lives until consumed. */
  expiry: boolean;
}

export interface ResultBackend {
  readonly transport: string;
  readonly capabilities: BackendCapabilities;
  connect(): Promise<void>;
  /** Write a task's meta (and notify waiters). `origin`: the request it answers (rpc:// needs it). */
  store(meta: ResultMeta, options: StoreOptions, origin?: ResultOrigin | null): Promise<void>;
  /** The latest meta, or null when nothing is stored (PENDING). */
  get(taskId: string): Promise<ResultMeta | null>;
  /**
   * Resolve with the meta once it is in a ready state (SUCCESS, FAILURE, REVOKED), or null when
   * `timeoutMs` passes first (null: wait forever), the signal aborts or the backend closes. `intervalMs`
   * is a hint for polling backends.
   */
  waitFor(taskId: string, options: WaitOptions): Promise<ResultMeta | null>;
  forget(taskId: string): Promise<void>;
  /** Save a group's member ids (Celery's GroupResult.save()). */
  saveGroup(groupId: string, taskIds: readonly string[], options: StoreOptions): Promise<void>;
  /** The member ids of a saved group, or null. */
  getGroup(groupId: string): Promise<string[] | null>;
  close(): Promise<void>;
}

/** GroupResult as Celery stores it: `[[group_id, null], [[[id, null], null], …]]`. */
export function groupResultTuple(groupId: string, taskIds: readonly string[]): unknown {
  return [[groupId, null], taskIds.map((id) => [[id, null], null])];
}

export function idsFromGroupTuple(value: unknown): string[] | null {
  if (!Array.isArray(value) || !Array.isArray(value[1])) return null;
  return (value[1] as unknown[]).map((child) => {
    const c = child as [[string, unknown], unknown];
    return c[0][0];
  });
}
